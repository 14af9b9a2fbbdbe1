import { codeOf, codeOfSync, expectSameTensor, sampleTensor } from '@harmonics/conformance';
import { type DType, tensor } from '@harmonics/core';
import { RingConsumer, RingProducer, createRing } from '@harmonics/transport-worker';
import { startWorker } from './fixtures/workers';

describe('shared-memory ring', () => {
  it('rounds the capacity up to a power of two and refuses what is not a ring', () => {
    expect(createRing({ capacityBytes: 5000 }).byteLength).toBe(256 + 8192);
    expect(createRing().byteLength).toBe(256 + 1024 * 1024);
    expect(codeOfSync(() => createRing({ capacityBytes: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new RingProducer(new SharedArrayBuffer(256 + 4096)))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new RingConsumer(new ArrayBuffer(256 + 4096) as never))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('joins exactly one writer and one reader', async () => {
    const ring = createRing();
    const w = new RingConsumer(ring);
    const r = new RingProducer(ring);
    expect(codeOfSync(() => new RingConsumer(ring))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new RingProducer(ring))).toBe('ERR_INVALID_ARGUMENT');
    await Promise.all([w.close(), r.close()]);
  });

  it('wraps around its end many times with records of every size, bit-exact and in order', async () => {
    const ring = createRing({ capacityBytes: 4096 });
    const w = new RingConsumer(ring);
    const r = new RingProducer(ring);
    const dtypes: DType[] = ['float32', 'int16', 'uint8', 'float64', 'bfloat16', 'int64'];
    const sent = Array.from({ length: 600 }, (_, i) => sampleTensor(dtypes[i % dtypes.length]!, [(i * 37) % 500], i + 1));
    const writing = (async () => {
      for (const t of sent) await w.push(t);
      await w.close();
    })();
    for (const t of sent) expectSameTensor(await r.next(), t);
    expect(await r.next()).toBeUndefined();
    await writing;
  });

  it('passes a tensor 16 000 times larger than the ring, in pieces', async () => {
    const ring = createRing({ capacityBytes: 4096 });
    const w = new RingConsumer(ring);
    const r = new RingProducer(ring);
    const big = sampleTensor('float32', [16, 1024, 1024], 5);
    const small = tensor('int32', [1], [42]);
    const writing = (async () => {
      await w.push(big);
      await w.push(small);
      await w.close();
    })();
    expectSameTensor(await r.next(), big);
    expectSameTensor(await r.next(), small);
    expect(await r.next()).toBeUndefined();
    await writing;
  }, 60_000);

  it('a full ring holds the writer back until the reader reads; the reader closing makes it reject ERR_CLOSED', async () => {
    const ring = createRing({ capacityBytes: 4096 });
    const w = new RingConsumer(ring);
    const r = new RingProducer(ring);
    let taken = 0;
    const pushing = (async () => {
      for (;;) {
        await w.push(tensor('uint8', [1000]));
        taken++;
      }
    })();
    const outcome = codeOf(pushing);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(taken).toBe(4); // 4 × (8 + 3 padding + 13 + 1000) bytes fill 4096, the fifth waits
    expect((await r.next())?.data.length).toBe(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(taken).toBe(5);
    await r.close();
    expect(await outcome).toBe('ERR_CLOSED');
    await w.close();
  });

  it("a corrupt record is ERR_PROTOCOL or the codec's error, never a tensor", async () => {
    const ring = createRing({ capacityBytes: 4096 });
    const r = new RingProducer(ring);
    const control = new Int32Array(ring, 0, 64);
    const data = new Uint8Array(ring, 256);
    // length 20, padding 3, then a float32 [1] record of 13 + 4 = 17 bytes, not 20.
    data.set([20, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0]);
    Atomics.store(control, 0, 31);
    expect(await codeOf(r.next())).toBe('ERR_PROTOCOL');
    await r.close();

    const ring2 = createRing({ capacityBytes: 4096 });
    const r2 = new RingProducer(ring2);
    new Uint8Array(ring2, 256).set([9, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0]);
    Atomics.store(new Int32Array(ring2, 0, 64), 0, 17);
    expect(await codeOf(r2.next())).toBe('ERR_BAD_DTYPE');
    await r2.close();

    const ring3 = createRing({ capacityBytes: 4096 });
    const r3 = new RingProducer(ring3);
    new Uint8Array(ring3, 256).set([9, 0, 0, 0, 200, 0, 0, 0]);
    Atomics.store(new Int32Array(ring3, 0, 64), 0, 8);
    expect(await codeOf(r3.next())).toBe('ERR_PROTOCOL');
    await r3.close();
  });

  it('a writer in a worker that dies: what it wrote arrives, then ERR_CONNECTION_LOST (the worker is watched)', async () => {
    const ring = createRing();
    const { worker } = startWorker('crash-worker.ts', { workerData: { ring, count: 5 } });
    const r = new RingProducer(ring, { peer: worker });
    for (let i = 0; i < 5; i++) expect((await r.next())?.data[0]).toBe(i);
    expect(await codeOf(r.next())).toBe('ERR_CONNECTION_LOST');
    await r.close();
  });

  it('a next() waiting on an empty ring keeps a Node thread alive, and an abort ends it', async () => {
    const ring = createRing();
    const r = new RingProducer(ring);
    const before = process.getActiveResourcesInfo().filter((k) => k === 'Timeout').length;
    const ac = new AbortController();
    const waiting = codeOf(r.next({ signal: ac.signal }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(process.getActiveResourcesInfo().filter((k) => k === 'Timeout').length).toBeGreaterThan(before);
    ac.abort();
    expect(await waiting).toBe('ERR_ABORTED');
    await r.close();
  });
});
