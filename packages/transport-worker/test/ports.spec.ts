import { MessageChannel } from 'node:worker_threads';
import { codeOf, expectSameTensor, sampleTensor } from '@harmonics/conformance';
import { type Tensor, tensor } from '@harmonics/core';
import { PortConsumer, PortProducer, RingConsumer, RingProducer, createRing } from '@harmonics/transport-worker';
import { startWorker } from './fixtures/workers';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bytes in ArrayBuffers of this thread, after a full GC when --expose-gc is on. */
function arrayBufferBytes(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().arrayBuffers;
}

describe('PortConsumer / PortProducer', () => {
  it('transfers a 64 MiB tensor to a worker and back without a copy: the sender is detached, memory does not grow by the tensor', async () => {
    const { port1, port2 } = new MessageChannel();
    const { worker, exited } = startWorker('echo-worker.ts', { workerData: { port: port2 }, transferList: [port2 as never] });
    const consumer = new PortConsumer(port1, { channel: 'in' });
    const producer = new PortProducer(port1, { channel: 'out', windowBytes: 128 * MiB });
    const sent = sampleTensor('float32', [16, 1024, 1024], 7);
    const expected = { ...sent, data: (sent.data as Float32Array).slice() } as Tensor;
    // Warm up (the first message starts the worker's side) before measuring.
    await consumer.push(tensor('int32', [1], [1]));
    expect((await producer.next())?.data[0]).toBe(1);
    const before = arrayBufferBytes(); // holds `sent` and `expected`: 128 MiB
    await consumer.push(sent);
    expect(sent.data.byteLength).toBe(0); // detached: the buffer moved to the worker
    const back = await producer.next();
    const after = arrayBufferBytes();
    expectSameTensor(back, expected);
    expect(back!.data.byteOffset).toBe(0);
    expect(back!.data.buffer.byteLength).toBe(64 * MiB); // the whole buffer came back, not a slice of a bigger one
    // A copy anywhere on the way would leave 64 MiB more in this thread.
    expect(after - before).toBeLessThan(8 * MiB);
    await consumer.close();
    expect(await producer.next()).toBeUndefined();
    await exited;
    void worker;
  }, 60_000);

  it('with copy: true the sender keeps its tensor', async () => {
    const { port1, port2 } = new MessageChannel();
    const consumer = new PortConsumer(port1, { copy: true });
    const producer = new PortProducer(port2);
    const sent = sampleTensor('float64', [1000], 3);
    await consumer.push(sent);
    expect(sent.data.byteLength).toBe(8000);
    expectSameTensor(await producer.next(), sent);
    await Promise.all([consumer.close(), producer.close()]);
  });

  it('copies, never detaches, tensors that share their buffer: slab-backed small tensors and views into a larger buffer', async () => {
    // Small tensors read from a ring live in core's shared 64 KiB slabs.
    const ring = createRing({ capacityBytes: 64 * 1024 });
    const rw = new RingConsumer(ring);
    const rr = new RingProducer(ring);
    await rw.push(tensor('int32', [4], [1, 2, 3, 4]));
    await rw.push(tensor('int32', [4], [5, 6, 7, 8]));
    const a = (await rr.next())!;
    const b = (await rr.next())!;
    expect(a.data.buffer).toBe(b.data.buffer); // one slab under both
    expect(a.data.buffer.byteLength).toBeGreaterThan(a.data.byteLength);

    const whole = new Float32Array(1024).map((_, i) => i);
    const view = tensor('float32', [256], whole.subarray(256, 512));

    const { port1, port2 } = new MessageChannel();
    const consumer = new PortConsumer(port1); // transfer by default
    const producer = new PortProducer(port2);
    await consumer.push(a);
    await consumer.push(view);
    expect(Array.from(a.data as Int32Array)).toEqual([1, 2, 3, 4]);
    expect(Array.from(b.data as Int32Array)).toEqual([5, 6, 7, 8]);
    expect(whole.length).toBe(1024);
    expect(view.data.length).toBe(256);
    expectSameTensor(await producer.next(), tensor('int32', [4], [1, 2, 3, 4]));
    expectSameTensor(await producer.next(), tensor('float32', [256], whole.slice(256, 512)));
    await Promise.all([consumer.close(), producer.close(), rw.close(), rr.close()]);
  });

  it('a stalled reader bounds what the writer sends: push() waits once the window is in flight', async () => {
    const { port1, port2 } = new MessageChannel();
    const windowBytes = 4 * MiB;
    const producer = new PortProducer(port2, { windowBytes });
    const consumer = new PortConsumer(port1);
    const size = 64 * 1024;
    let pushed = 0;
    for (;;) {
      const p = consumer.push(tensor('uint8', [size]));
      const outcome = await Promise.race([p.then(() => 'taken'), sleep(500).then(() => 'waiting')]);
      if (outcome === 'waiting') break;
      pushed++;
    }
    // Each tensor costs its bytes plus 1 KiB; the writer may go one tensor over the window.
    const inFlight = pushed * (size + 1024);
    console.log(
      `stalled reader, windowBytes ${windowBytes}: ${pushed} × 64 KiB tensors (${(inFlight / MiB).toFixed(2)} MiB) in flight when push() began to wait`,
    );
    expect(inFlight).toBeGreaterThanOrEqual(windowBytes);
    expect(inFlight).toBeLessThan(windowBytes + size + 1024);
    for (let i = 0; i <= pushed; i++) expect((await producer.next())?.data.length).toBe(size);
    await Promise.all([consumer.close(), producer.close()]);
  });

  it('pushes made all at once, without waiting for each other, still stop at the window, and arrive in order', async () => {
    const { port1, port2 } = new MessageChannel();
    const producer = new PortProducer(port2, { windowBytes: MiB });
    const consumer = new PortConsumer(port1);
    const size = 64 * 1024;
    let resolved = 0;
    const pushes = Array.from({ length: 100 }, (_, i) =>
      consumer.push(tensor('int32', [size / 4], new Int32Array(size / 4).fill(i))).then(() => resolved++),
    );
    await sleep(300);
    expect(resolved).toBe(16); // 16 × (64 KiB + 1 KiB) reaches 1 MiB; the 17th waits for credit
    for (let i = 0; i < 100; i++) expect((await producer.next())?.data[0]).toBe(i);
    await Promise.all(pushes);
    await Promise.all([consumer.close(), producer.close()]);
  });

  it('a worker that dies mid-stream: what it sent arrives, then next() rejects ERR_CONNECTION_LOST', async () => {
    const { port1, port2 } = new MessageChannel();
    const { exited } = startWorker('crash-worker.ts', { workerData: { port: port2, count: 5 }, transferList: [port2 as never] });
    const producer = new PortProducer(port1);
    for (let i = 0; i < 5; i++) expect((await producer.next())?.data[0]).toBe(i);
    expect(await codeOf(producer.next())).toBe('ERR_CONNECTION_LOST');
    expect(await exited).toBe(1);
    await producer.close();
  });

  it('a terminated worker makes a waiting push() reject ERR_CONNECTION_LOST', async () => {
    const { port1, port2 } = new MessageChannel();
    const { worker } = startWorker('bus-reader-worker.ts', { workerData: { port: port2, windowBytes: 64 * 1024 }, transferList: [port2 as never] });
    const consumer = new PortConsumer(port1);
    // Fill the reader's window (it reads, but its own stream never ends: it keeps what it reads).
    const pushing = (async () => {
      for (;;) await consumer.push(tensor('uint8', [1 << 20]));
    })();
    const outcome = codeOf(pushing);
    await sleep(200);
    await worker.terminate();
    expect(await outcome).toBe('ERR_CONNECTION_LOST');
    expect(await codeOf(consumer.push(tensor('uint8', [1])))).toBe('ERR_CONNECTION_LOST');
    await consumer.close();
  });

  it('the reader closing makes pushes reject ERR_CLOSED', async () => {
    const { port1, port2 } = new MessageChannel();
    const consumer = new PortConsumer(port1);
    const producer = new PortProducer(port2, { windowBytes: 4096 });
    await consumer.push(tensor('uint8', [8000]));
    const waiting = consumer.push(tensor('uint8', [8000]));
    await producer.close();
    expect(await codeOf(waiting)).toBe('ERR_CLOSED');
    await consumer.close();
  });

  it("several channels share one port, and the application's own messages pass untouched", async () => {
    const { port1, port2 } = new MessageChannel();
    const own: unknown[] = [];
    port2.on('message', (m) => {
      if (typeof m === 'string') own.push(m);
    });
    const a = new PortConsumer(port1, { channel: 'a' });
    const b = new PortConsumer(port1, { channel: 'b' });
    const ra = new PortProducer(port2, { channel: 'a' });
    const rb = new PortProducer(port2, { channel: 'b' });
    await a.push(tensor('int32', [1], [1]));
    port1.postMessage('hello from the app');
    await b.push(tensor('int32', [1], [2]));
    await a.close();
    expect((await rb.next())?.data[0]).toBe(2);
    expect((await ra.next())?.data[0]).toBe(1);
    expect(await ra.next()).toBeUndefined();
    expect(own).toEqual(['hello from the app']);
    await Promise.all([b.close(), rb.close()]);
    port2.removeAllListeners('message');
  });

  it('a message on the channel that is not a tensor is ERR_PROTOCOL; a bool element other than 0/1 is ERR_BAD_DTYPE', async () => {
    const { port1, port2 } = new MessageChannel();
    const producer = new PortProducer(port2);
    port1.postMessage({ h: 'harmonics', k: 't', d: 'float32', s: [2], a: 'not an array' });
    expect(await codeOf(producer.next())).toBe('ERR_PROTOCOL');
    await producer.close();

    const c = new MessageChannel();
    const p2 = new PortProducer(c.port2);
    c.port1.postMessage({ h: 'harmonics', k: 't', d: 'bool', s: [2], a: new Uint8Array([1, 7]) });
    expect(await codeOf(p2.next())).toBe('ERR_BAD_DTYPE');
    await p2.close();
    c.port1.close();
    port1.close();
  });

  it('maxMessageBytes is checked on both sides: the writer refuses, and a reader refuses what a laxer writer sent', async () => {
    const { port1, port2 } = new MessageChannel();
    const strict = new PortConsumer(port1, { maxMessageBytes: 1024 });
    const lax = new PortConsumer(port1, { maxMessageBytes: 1 << 20 });
    const producer = new PortProducer(port2, { maxMessageBytes: 1024 });
    expect(await codeOf(strict.push(tensor('uint8', [2000])))).toBe('ERR_TOO_LARGE');
    await lax.push(tensor('uint8', [100]));
    await lax.push(tensor('uint8', [2000]));
    expect((await producer.next())?.data.length).toBe(100);
    expect(await codeOf(producer.next())).toBe('ERR_TOO_LARGE');
    await Promise.all([strict.close(), lax.close(), producer.close()]);
  });

  it('bad options are ERR_INVALID_ARGUMENT at the call', () => {
    const { port1, port2 } = new MessageChannel();
    expect(() => new PortProducer(port1, { windowBytes: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new PortConsumer(port2, { maxMessageBytes: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new PortConsumer({ postMessage() {} } as never)).toThrow(/neither on\(\) nor addEventListener/);
    port1.close();
  });
});
