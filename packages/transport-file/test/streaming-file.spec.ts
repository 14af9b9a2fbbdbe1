import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { encodeTensor, tensor } from '@harmonics/core';
import { expectSameTensor, runTransportSuite, sampleTensor } from '@harmonics/conformance';
import { StreamingFileConsumer, StreamingFileProducer } from '@harmonics/transport-file';
import { errorOf, tempDir } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let n = 0;

runTransportSuite({
  name: 'StreamingFileConsumer → following StreamingFileProducer',
  setup: async ({ maxMessageBytes } = {}) => {
    const path = tmp.file(`suite-${n++}.bin`);
    writeFileSync(path, new Uint8Array(0));
    return {
      consumer: new StreamingFileConsumer(path, { maxMessageBytes }),
      producer: new StreamingFileProducer(path, { follow: true, idleTimeoutMs: 400, maxMessageBytes }),
      // The writer dies after writing part of a record: the follower waits, then reports the cut.
      disconnect: async () => {
        appendFileSync(path, encodeTensor(tensor('float32', [64]), { lengthPrefix: false }).subarray(0, 30));
      },
    };
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_TRUNCATED'], backpressure: false },
});

describe('StreamingFileConsumer', () => {
  it('each record is in the file when push() resolves (another reader sees it)', async () => {
    const path = tmp.file('visible.bin');
    const c = new StreamingFileConsumer(path, { truncate: true });
    const a = tensor('float32', [3], [1, 2, 3]);
    await c.push(a);
    expect(statSync(path).size).toBe(encodeTensor(a).length);
    await c.push(a);
    expect(readFileSync(path).length).toBe(2 * encodeTensor(a).length);
    await c.close();
  });

  it('appends by default and keeps push() order under concurrent pushes', async () => {
    const path = tmp.file('order.bin');
    writeFileSync(path, encodeTensor(tensor('int32', [1], [-1])));
    const c = new StreamingFileConsumer(path, { sync: true });
    await Promise.all(Array.from({ length: 50 }, (_, i) => c.push(tensor('int32', [1], [i]))));
    await c.close();
    const p = new StreamingFileProducer(path);
    const seen = [];
    for await (const t of p) seen.push(t.data[0]);
    expect(seen).toEqual([-1, ...Array.from({ length: 50 }, (_, i) => i)]);
  });

  it('a push aborted while queued writes nothing', async () => {
    const path = tmp.file('abort.bin');
    const c = new StreamingFileConsumer(path, { truncate: true });
    const ac = new AbortController();
    const first = c.push(tensor('uint8', [1 << 20]));
    const second = c.push(tensor('uint8', [1], [9]), { signal: ac.signal });
    ac.abort();
    await first;
    expect((await errorOf(second))?.code).toBe('ERR_ABORTED');
    await c.close();
    expect(statSync(path).size).toBe(encodeTensor(tensor('uint8', [1 << 20])).length);
  });
});

describe('StreamingFileProducer', () => {
  it('without follow, ends at the end of the file and reports a cut record as ERR_TRUNCATED', async () => {
    const path = tmp.file('plain.bin');
    const rec = encodeTensor(tensor('uint8', [4], [1, 2, 3, 4]));
    writeFileSync(path, Buffer.concat([rec, rec.subarray(0, 6)]));
    const p = new StreamingFileProducer(path);
    expect((await p.next())?.shape).toEqual([4]);
    const err = await errorOf(p.next());
    expect(err?.code).toBe('ERR_TRUNCATED');
    expect(err?.message).toContain(`byte ${rec.length}`);
    await p.close();
  });

  it('follows a file that another process appends to, waiting out half-written records', async () => {
    const path = tmp.file('followed.bin');
    const sent = Array.from({ length: 20 }, (_, i) => sampleTensor('float64', [i + 1, 3], i));
    const bytes = Buffer.concat(sent.map((t) => encodeTensor(t)));
    const data = tmp.file('followed.src');
    writeFileSync(data, bytes);
    // The writer appends the bytes in odd-sized pieces (cutting records in half), 10 ms apart.
    const writer = spawn(process.execPath, [
      '-e',
      `const fs = require('fs'); const b = fs.readFileSync(${JSON.stringify(data)});
       let o = 0; const step = () => { if (o >= b.length) return; const n = Math.min(37, b.length - o);
       fs.appendFileSync(${JSON.stringify(path)}, b.subarray(o, o + n)); o += n; setTimeout(step, 2); };
       step();`,
    ]);
    // Listen for the exit now: the writer may be gone before the last tensor is read.
    const exited = new Promise((r) => writer.once('exit', r));
    const p = new StreamingFileProducer(path, { follow: true, idleTimeoutMs: 3000, pollIntervalMs: 5 });
    for (const t of sent) expectSameTensor(await p.next(), t);
    await exited;
    await p.close();
  });

  it('a follower sees every intermediate state of a file growing 37 bytes at a time', async () => {
    const path = tmp.file('pieces.bin');
    writeFileSync(path, new Uint8Array(0));
    const sent = Array.from({ length: 20 }, (_, i) => sampleTensor('int16', [i + 1, 5], i));
    const bytes = Buffer.concat(sent.map((t) => encodeTensor(t)));
    const p = new StreamingFileProducer(path, { follow: true, idleTimeoutMs: 5000, pollIntervalMs: 1 });
    const reading = (async () => {
      const got = [];
      for (let i = 0; i < sent.length; i++) got.push(await p.next());
      return got;
    })();
    for (let o = 0; o < bytes.length; o += 37) {
      appendFileSync(path, bytes.subarray(o, o + 37));
      await new Promise((r) => setTimeout(r, 4)); // let the follower look at this state
    }
    const got = await reading;
    sent.forEach((t, i) => expectSameTensor(got[i], t));
    await p.close();
  });

  it('follow waits for a file that does not exist yet', async () => {
    const path = tmp.file('later.bin');
    const p = new StreamingFileProducer(path, { follow: true, idleTimeoutMs: 5000 });
    const reading = p.next();
    setTimeout(() => writeFileSync(path, encodeTensor(tensor('uint8', [1], [42]))), 100);
    expect((await reading)?.data[0]).toBe(42);
    await p.close();
  });

  it('with idleTimeoutMs, a follower ends cleanly after the file stops growing', async () => {
    const path = tmp.file('idle.bin');
    writeFileSync(path, encodeTensor(tensor('uint8', [1], [7])));
    const p = new StreamingFileProducer(path, { follow: true, idleTimeoutMs: 150 });
    expect((await p.next())?.data[0]).toBe(7);
    const t0 = Date.now();
    expect(await p.next()).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    await p.close();
  });

  it('close() while following makes the waiting next() reject ERR_CLOSED', async () => {
    const path = tmp.file('closing.bin');
    writeFileSync(path, new Uint8Array(0));
    const p = new StreamingFileProducer(path, { follow: true });
    const waiting = p.next();
    setTimeout(() => void p.close(), 50);
    expect((await errorOf(waiting))?.code).toBe('ERR_CLOSED');
  });
});
