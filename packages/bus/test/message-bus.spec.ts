import { MessageBus } from '@harmonics/bus';
import { type Tensor, tensor } from '@harmonics/core';
import { codeOf } from '@harmonics/conformance';

const t = (i: number): Tensor => tensor('int32', [1], [i]);
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('MessageBus', () => {
  it('passes tensors by reference, first in first out', async () => {
    const bus = new MessageBus();
    const a = t(1);
    const b = t(2);
    await bus.send(a);
    await bus.send(b);
    expect(await bus.receive()).toBe(a);
    expect(await bus.receive()).toBe(b);
  });

  it('with a capacity, send() waits while full and resumes when a reader makes room', async () => {
    const bus = new MessageBus({ capacity: 2 });
    await bus.send(t(1));
    await bus.send(t(2));
    let third = false;
    const sending = bus.send(t(3)).then(() => (third = true));
    await tick();
    expect(third).toBe(false);
    expect(bus.size).toBe(2);
    expect((await bus.receive())?.data[0]).toBe(1);
    await sending;
    expect(third).toBe(true);
    expect([(await bus.receive())?.data[0], (await bus.receive())?.data[0]]).toEqual([2, 3]);
  });

  it('close() wakes every waiting reader with end of stream once drained; later sends reject ERR_CLOSED', async () => {
    const bus = new MessageBus();
    const r1 = bus.receive();
    const r2 = bus.receive();
    bus.close();
    expect(await r1).toBeUndefined();
    expect(await r2).toBeUndefined();
    expect(await codeOf(bus.send(t(1)))).toBe('ERR_CLOSED');

    const draining = new MessageBus();
    await draining.send(t(7));
    draining.close();
    expect((await draining.receive())?.data[0]).toBe(7);
    expect(await draining.receive()).toBeUndefined();
  });

  it('a send waiting for room when the bus closes rejects ERR_CLOSED', async () => {
    const bus = new MessageBus({ capacity: 1 });
    await bus.send(t(1));
    const waiting = bus.send(t(2));
    bus.close();
    expect(await codeOf(waiting)).toBe('ERR_CLOSED');
    expect((await bus.receive())?.data[0]).toBe(1);
    expect(await bus.receive()).toBeUndefined();
  });

  it('aborted waiters reject ERR_ABORTED and leave nothing behind', async () => {
    const bus = new MessageBus({ capacity: 1 });
    const ac = new AbortController();
    const waitingReader = bus.receive({ signal: ac.signal });
    ac.abort();
    expect(await codeOf(waitingReader)).toBe('ERR_ABORTED');
    await bus.send(t(1)); // must not vanish into the aborted reader
    expect(bus.size).toBe(1);
    const ac2 = new AbortController();
    const waitingSender = bus.send(t(2), { signal: ac2.signal });
    ac2.abort();
    expect(await codeOf(waitingSender)).toBe('ERR_ABORTED');
    expect((await bus.receive())?.data[0]).toBe(1);
    expect(bus.size).toBe(0); // the aborted send was not admitted
  });

  it('many producers and consumers share one queue: every tensor is read exactly once', async () => {
    const bus = new MessageBus({ capacity: 8 });
    const writers = [0, 1, 2].map((w) => {
      const c = bus.consumer();
      return (async () => {
        for (let i = 0; i < 300; i++) await c.push(t(w * 1000 + i));
        await c.close();
      })();
    });
    const readers = [0, 1].map(async () => {
      const p = bus.producer();
      const seen: number[] = [];
      for await (const x of p) seen.push(x.data[0] as number);
      return seen;
    });
    await Promise.all(writers);
    const seen = (await Promise.all(readers)).flat().sort((a, b) => a - b);
    const expected = [0, 1, 2].flatMap((w) => Array.from({ length: 300 }, (_, i) => w * 1000 + i));
    expect(seen).toEqual(expected);
    expect(bus.closed).toBe(true); // the last consumer's close ended the bus
  });

  it('closing a producer cancels only its own waiting next()', async () => {
    const bus = new MessageBus();
    const p1 = bus.producer();
    const p2 = bus.producer();
    const w1 = p1.next();
    const w2 = p2.next();
    await p1.close();
    expect(await codeOf(w1)).toBe('ERR_CLOSED');
    await bus.send(t(5));
    expect((await w2)?.data[0]).toBe(5);
  });

  it('endWithLastConsumer: false keeps the bus open until close()', async () => {
    const bus = new MessageBus({ endWithLastConsumer: false });
    const c = bus.consumer();
    await c.push(t(1));
    await c.close();
    expect(bus.closed).toBe(false);
    await bus.send(t(2));
    bus.close();
    const p = bus.producer();
    expect([(await p.next())?.data[0], (await p.next())?.data[0], await p.next()]).toEqual([1, 2, undefined]);
  });

  it('rejects a capacity below 1', () => {
    expect(() => new MessageBus({ capacity: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
