import { codeOf } from '@harmonics/conformance';
import { tensor } from '@harmonics/core';
import { SharedBus } from '@harmonics/transport-worker';
import { startWorker } from './fixtures/workers';

describe('SharedBus', () => {
  it('delivers 100,000 tensors from 3 writer workers to 4 reader workers, each exactly once, per-writer order kept', async () => {
    const writers = 3;
    const readers = 4;
    const perWriter = 33_334; // 100,002 in all
    const bus = new SharedBus({ capacity: 256 });
    const readerResults = Array.from({ length: readers }, () => {
      const port = bus.readerPort();
      const { worker } = startWorker('bus-reader-worker.ts', { workerData: { port, windowBytes: 64 * 1024 }, transferList: [port as never] });
      return new Promise<Int32Array>((resolve) => worker.once('message', resolve));
    });
    const writersDone = Array.from({ length: writers }, (_, writer) => {
      const port = bus.writerPort();
      const { worker, exited } = startWorker('bus-writer-worker.ts', {
        workerData: { port, writer, count: perWriter },
        transferList: [port as never],
      });
      return Promise.all([new Promise((resolve) => worker.once('message', resolve)), exited]);
    });
    await bus.end(); // resolves once every writer has closed
    await Promise.all(writersDone);
    const results = await Promise.all(readerResults);

    const seen = Array.from({ length: writers }, () => new Uint8Array(perWriter));
    let total = 0;
    const perReader: number[] = [];
    for (const got of results) {
      perReader.push(got.length / 2);
      const last = new Array<number>(writers).fill(-1);
      for (let i = 0; i < got.length; i += 2) {
        const w = got[i]!;
        const seq = got[i + 1]!;
        expect(seen[w]![seq]).toBe(0); // never twice
        seen[w]![seq] = 1;
        // Within one reader, each writer's tensors come in that writer's order.
        if (seq <= last[w]!) throw new Error(`reader got writer ${w}'s ${seq} after its ${last[w]}`);
        last[w] = seq;
        total++;
      }
    }
    expect(total).toBe(writers * perWriter);
    for (const s of seen) expect(s.every((x) => x === 1)).toBe(true);
    expect(bus.received).toBe(writers * perWriter);
    expect(bus.delivered).toBe(writers * perWriter);
    console.log(`SharedBus: ${total} tensors, per reader ${perReader.join(' / ')}`);
  }, 120_000);

  it('a reader that leaves while a tensor is on its way to it loses nothing: the next reader gets it first', async () => {
    const bus = new SharedBus();
    const leaving = bus.producer();
    await new Promise((resolve) => setTimeout(resolve, 20)); // its credit has reached the bus: the bus waits to give it a tensor
    await leaving.close();
    const w = bus.consumer();
    for (let i = 0; i < 5; i++) await w.push(tensor('int32', [1], [i]));
    await w.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const ending = bus.end();
    const got: number[] = [];
    for await (const t of bus.producer()) got.push(t.data[0] as number);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(bus.delivered).toBe(5);
    await ending;
  });

  it('with a capacity, writers wait while the bus is full', async () => {
    const bus = new SharedBus({ capacity: 2, writerWindowBytes: 1 });
    const w = bus.consumer();
    let taken = 0;
    const pushing = (async () => {
      for (let i = 0; i < 10; i++) {
        await w.push(tensor('int32', [1], [i]));
        taken++;
      }
      await w.close();
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(bus.size).toBe(2);
    expect(taken).toBeLessThan(10);
    const r = bus.producer();
    const ending = bus.end();
    const got: number[] = [];
    for await (const t of r) got.push(t.data[0] as number);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await pushing;
    await ending;
  });

  it("close() ends at once: readers drain what is queued, writers' pushes reject ERR_CLOSED", async () => {
    const bus = new SharedBus();
    const w = bus.consumer();
    await w.push(tensor('int32', [1], [1]));
    await w.push(tensor('int32', [1], [2]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(bus.size).toBe(2);
    await bus.close();
    const r = bus.producer(); // a reader may still come for what is queued
    expect((await r.next())?.data[0]).toBe(1);
    expect((await r.next())?.data[0]).toBe(2);
    expect(await r.next()).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await codeOf(w.push(tensor('int32', [1], [2])))).toBe('ERR_CLOSED');
    expect(() => bus.writerPort()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });
});
