import { PassThrough, Readable, Writable } from 'node:stream';
import { StreamConsumer, StreamProducer, type Tensor, encodeTensor, tensor } from '@harmonics/core';
import { codeOf, expectedGoldenTensors, expectSameTensor, goldenFile, runTransportSuite, sampleTensor } from '@harmonics/conformance';

// The conformance suite, proven first on in-memory pipes.

runTransportSuite({
  name: 'StreamProducer/StreamConsumer over a WHATWG TransformStream',
  setup: async ({ maxMessageBytes } = {}) => {
    let control!: TransformStreamDefaultController<Uint8Array>;
    const pipe = new TransformStream<Uint8Array, Uint8Array>({
      start: (c) => {
        control = c;
      },
    });
    return {
      producer: new StreamProducer(pipe.readable, { maxMessageBytes }),
      consumer: new StreamConsumer(pipe.writable, { maxMessageBytes }),
      disconnect: async () => {
        control.enqueue(encodeTensor(tensor('float32', [64]), { lengthPrefix: true }).subarray(0, 20));
        control.error(new Error('peer vanished'));
      },
    };
  },
  capabilities: { peerLoss: true },
});

runTransportSuite({
  name: 'StreamProducer/StreamConsumer over a Node PassThrough',
  setup: async ({ maxMessageBytes } = {}) => {
    const pass = new PassThrough({ highWaterMark: 64 * 1024 });
    return {
      producer: new StreamProducer(pass, { maxMessageBytes }),
      consumer: new StreamConsumer(pass, { maxMessageBytes }),
      disconnect: async () => {
        pass.write(encodeTensor(tensor('float32', [64]), { lengthPrefix: true }).subarray(0, 20));
        pass.destroy(new Error('ECONNRESET'));
      },
    };
  },
  capabilities: { peerLoss: true },
});

describe('StreamProducer', () => {
  it('reads back-to-back records from a Node Readable (framing: records)', async () => {
    const bytes = goldenFile('tensors.bin');
    const chunks: Uint8Array[] = [];
    for (let o = 0; o < bytes.length; o += 12_345) chunks.push(bytes.subarray(o, o + 12_345));
    const p = new StreamProducer(Readable.from(chunks), { framing: 'records' });
    const got: Tensor[] = [];
    for await (const t of p) got.push(t);
    const expected = expectedGoldenTensors();
    expect(got).toHaveLength(10);
    got.forEach((t, i) => expectSameTensor(t, expected[i]));
  });

  it('a source that ends inside a record: complete records first, then ERR_TRUNCATED', async () => {
    const bytes = goldenFile('socket-frames.bin');
    const cut = bytes.subarray(0, bytes.length - 100);
    const p = new StreamProducer(Readable.from([cut]));
    expect((await p.next())?.shape).toEqual([2, 3]);
    expect((await p.next())?.shape).toEqual([]);
    expect(await codeOf(p.next())).toBe('ERR_TRUNCATED');
    expect(await codeOf(p.next())).toBe('ERR_TRUNCATED'); // sticky, never a silent end
  });

  it('endInsideRecord: ERR_CONNECTION_LOST reports a cut stream as a lost peer', async () => {
    const rec = encodeTensor(tensor('uint8', [10]), { lengthPrefix: true });
    const p = new StreamProducer(Readable.from([rec.subarray(0, 8)]), { endInsideRecord: 'ERR_CONNECTION_LOST' });
    expect(await codeOf(p.next())).toBe('ERR_CONNECTION_LOST');
  });

  it('rejects text chunks with ERR_PROTOCOL', async () => {
    const p = new StreamProducer(Readable.from(['not bytes'], { objectMode: true }) as AsyncIterable<Uint8Array>);
    expect(await codeOf(p.next())).toBe('ERR_PROTOCOL');
  });

  it('serves concurrent next() calls in order', async () => {
    const sent = [0, 1, 2, 3].map((i) => tensor('int32', [1], [i]));
    const pass = new PassThrough();
    const p = new StreamProducer(pass);
    const pending = [p.next(), p.next(), p.next(), p.next(), p.next()];
    const c = new StreamConsumer(pass);
    for (const t of sent) await c.push(t);
    await c.close();
    const got = await Promise.all(pending);
    expect(got.map((t) => t?.data[0])).toEqual([0, 1, 2, 3, undefined]);
  });

  it('close() while next() waits rejects that next() with ERR_CLOSED, without hanging', async () => {
    const p = new StreamProducer(new PassThrough());
    const waiting = p.next();
    await p.close();
    expect(await codeOf(waiting)).toBe('ERR_CLOSED');
  });
});

describe('StreamConsumer', () => {
  it('keeps push() order when many pushes of mixed sizes are in flight at once', async () => {
    const pass = new PassThrough();
    const c = new StreamConsumer(pass, { batchBytes: 4096, coalesceBytes: 2048 });
    const p = new StreamProducer(pass);
    const sent = Array.from({ length: 300 }, (_, i) => sampleTensor('uint8', [[10, 1500, 5000][i % 3]], i));
    const reading = (async () => {
      const got: Tensor[] = [];
      for await (const t of p) got.push(t);
      return got;
    })();
    await Promise.all(sent.map((t) => c.push(t))); // none awaited before the next starts
    await c.close();
    const got = await reading;
    expect(got).toHaveLength(300);
    got.forEach((t, i) => expectSameTensor(t, sent[i]));
  });

  it('coalesces small records into few writes', async () => {
    const writes: number[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        writes.push(chunk.length);
        cb();
      },
    });
    const c = new StreamConsumer(sink);
    for (let i = 0; i < 1000; i++) await c.push(tensor('float32', [256]));
    await c.close();
    const total = writes.reduce((a, b) => a + b, 0);
    expect(total).toBe(1000 * (4 + 13 + 1024));
    expect(writes.length).toBeLessThanOrEqual(20); // 64 KiB batches, not 1000 writes
  });

  it('zeroCopy writes header and data as separate corked chunks, the data straight from the tensor', async () => {
    const chunks: Buffer[] = [];
    let corked = 0;
    const sink = new Writable({
      writev(parts, cb) {
        corked++;
        for (const p of parts) chunks.push(p.chunk as Buffer);
        cb();
      },
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const t = sampleTensor('float32', [64 * 1024], 3);
    const c = new StreamConsumer(sink, { zeroCopy: true });
    await c.push(t);
    await c.close();
    expect(chunks).toHaveLength(2);
    expect(corked).toBe(1);
    expect(chunks[1].buffer).toBe(t.data.buffer);
    expect(chunks[0].length).toBe(4 + 13);
  });

  it('push() waits for a slow sink (backpressure) instead of buffering without bound', async () => {
    let release!: () => void;
    let writes = 0;
    const sink = new Writable({
      highWaterMark: 1,
      write(_chunk, _e, cb) {
        writes++;
        release = () => cb();
      },
    });
    const c = new StreamConsumer(sink);
    const big = tensor('uint8', [1024 * 1024]);
    let done = 0;
    const first = c.push(big).then(() => done++);
    await new Promise((r) => setTimeout(r, 50));
    expect([writes, done]).toEqual([1, 0]); // handed over, not acknowledged: push() still waits
    const second = c.push(big).then(() => done++);
    await new Promise((r) => setTimeout(r, 50));
    expect([writes, done]).toEqual([1, 0]); // the second waits for the first
    release();
    await first;
    await new Promise((r) => setTimeout(r, 50));
    expect([writes, done]).toEqual([2, 1]);
    release();
    await second;
    expect(done).toBe(2);
  });

  it('small records: a sink that stops acknowledging stops push() at the high-water mark, and all arrive in order once it resumes', async () => {
    // A sink that takes chunks but acknowledges none until released (a peer that stopped reading).
    const held: { chunk: Buffer; cb: () => void }[] = [];
    const received: Buffer[] = [];
    let flowing = false;
    const sink = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        received.push(chunk);
        if (flowing) cb();
        else held.push({ chunk, cb });
      },
    });
    const hwm = 256 * 1024;
    const c = new StreamConsumer(sink, { highWaterMark: hwm });
    const n = 20_000;
    const make = (i: number) => tensor('int32', [256], new Int32Array(256).fill(i)); // 1 KiB of data each
    let resolved = 0;
    const writer = (async () => {
      for (let i = 0; i < n; i++) {
        await c.push(make(i));
        resolved++;
        // A producer that does work between tensors: the event loop turns, so batches go out a few records at a time.
        if (i % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      await c.close();
    })();
    // Let it run until push() stops resolving.
    let last = -1;
    while (resolved !== last) {
      last = resolved;
      await new Promise((r) => setTimeout(r, 100));
    }
    const record = 4 + 1 + 4 + 4 + 4 + 1024; // length prefix, dtype, ndim, one dim, byteLength, data
    const handedOver = held.reduce((sum, h) => sum + h.chunk.byteLength, 0);
    expect(resolved).toBeLessThan(n);
    expect(resolved * record).toBeLessThanOrEqual(hwm + 2 * 64 * 1024); // the mark plus at most a batch being filled and one in hand
    expect(handedOver).toBeLessThanOrEqual(hwm + 64 * 1024);
    // The reader resumes: every tensor arrives, in order, bit for bit.
    flowing = true;
    for (const h of held.splice(0)) h.cb();
    await writer;
    const back: Tensor[] = [];
    for await (const t of new StreamProducer(Readable.from([Buffer.concat(received)]))) back.push(t);
    expect(back.length).toBe(n);
    back.forEach((t, i) => expect((t.data as Int32Array)[255]).toBe(i));
  });

  it('endMarker: close() writes a zero length prefix after the last record, which an endMarker producer takes as the clean end', async () => {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const c = new StreamConsumer(sink, { endMarker: true });
    await c.push(tensor('int32', [1], [7]));
    await c.close();
    const bytes = Buffer.concat(chunks);
    expect(Array.from(bytes.subarray(bytes.length - 4))).toEqual([0, 0, 0, 0]);
    const p = new StreamProducer(Readable.from([bytes]), { endMarker: true });
    expect((await p.next())?.data[0]).toBe(7);
    expect(await p.next()).toBeUndefined();
    const cut = new StreamProducer(Readable.from([bytes.subarray(0, bytes.length - 4)]), { endMarker: true });
    expect((await cut.next())?.data[0]).toBe(7);
    expect(await codeOf(cut.next())).toBe('ERR_CONNECTION_LOST');
  });

  it('close() on a sink destroyed underneath it rejects ERR_CONNECTION_LOST instead of hanging', async () => {
    for (const when of ['before', 'during'] as const) {
      const sink = new Writable({
        write(_c, _e, cb) {
          cb();
        },
        final(cb) {
          if (when === 'during') setTimeout(() => sink.destroy(), 10);
          else cb();
        },
      });
      const c = new StreamConsumer(sink);
      await c.push(tensor('uint8', [4]));
      await new Promise((r) => setTimeout(r, 10));
      if (when === 'before') sink.destroy();
      expect([when, await codeOf(c.close())]).toEqual([when, 'ERR_CONNECTION_LOST']);
    }
  });

  it('a failing sink makes push() and close() reject ERR_CONNECTION_LOST', async () => {
    const sink = new Writable({
      write(_c, _e, cb) {
        cb(new Error('EPIPE'));
      },
    });
    sink.on('error', () => undefined);
    const c = new StreamConsumer(sink);
    expect(await codeOf(c.push(tensor('uint8', [100_000])))).toBe('ERR_CONNECTION_LOST');
    expect(await codeOf(c.push(tensor('uint8', [1])))).toBe('ERR_CONNECTION_LOST');
    expect(await codeOf(c.close())).toBe('ERR_CONNECTION_LOST');
  });
});
