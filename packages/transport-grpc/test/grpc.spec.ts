import { spawn } from 'node:child_process';
import { connect as h2connect } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Client, Metadata, Server, ServerCredentials, credentials, status } from '@grpc/grpc-js';
import { type Tensor, tensor } from '@harmonics/core';
import {
  FreezableProxy,
  codeOf,
  codeOfSync,
  errorOf,
  expectSameTensor,
  expectedGoldenTensors,
  goldenRecords,
  sampleTensor,
} from '@harmonics/conformance';
import { DEFAULT_FLOW_CONTROL_WINDOW, GrpcConsumer, GrpcProducer, GrpcServer, POP_PATH, PUSH_PATH } from '@harmonics/transport-grpc';

const TLS_KEY = readFileSync(join(__dirname, 'fixtures/key.pem'));
const TLS_CERT = readFileSync(join(__dirname, 'fixtures/cert.pem'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const identity = (b: Buffer) => b;

/** TensorData { serialized = record } encoded by hand, the plain way (no padding field). */
function tensorData(record: Uint8Array): Buffer {
  const len: number[] = [];
  for (let n = record.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      len.push(n);
      break;
    }
    len.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x0a, ...len]), record]);
}

/** The `serialized` field of a TensorData message, skipping other fields. */
function serializedOf(msg: Buffer): Buffer {
  let o = 0;
  let found: Buffer | undefined;
  while (o < msg.length) {
    const tag = msg[o++];
    let len = 0;
    for (let scale = 1; ; scale *= 128) {
      const b = msg[o++];
      len += (b & 0x7f) * scale;
      if (b < 128) break;
    }
    if (tag === 0x0a) found = msg.subarray(o, o + len);
    else expect(tag & 7).toBe(2);
    o += len;
  }
  return found!;
}

function magic(value = 'HGRP'): Metadata {
  const md = new Metadata();
  md.set('magic', value);
  return md;
}

describe('wire compatibility', () => {
  it('records pushed by a raw grpc-js client decode to the golden tensors; popped records are byte-identical', async () => {
    const server = await GrpcServer.listen({ endWithLastWriter: false });
    // The golden file holds a 4 MiB tensor: lift grpc-js's 4 MiB default.
    const raw = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
    try {
      const records = goldenRecords();
      await new Promise<void>((resolve, reject) => {
        const call = raw.makeClientStreamRequest(PUSH_PATH, identity, identity, magic(), (err) => (err ? reject(err) : resolve()));
        for (const r of records) call.write(tensorData(r));
        call.end();
      });
      const want = expectedGoldenTensors();
      const got: Tensor[] = [];
      for (let i = 0; i < want.length; i++) got.push((await server.pop())!);
      want.forEach((t, i) => expectSameTensor(got[i], t));
      for (const t of want) await server.push(t);
      const call = raw.makeServerStreamRequest(POP_PATH, identity, identity, Buffer.alloc(0), magic());
      const popped: Buffer[] = [];
      for await (const msg of call) {
        popped.push(serializedOf(msg as Buffer));
        if (popped.length === records.length) break;
      }
      call.cancel();
      popped.forEach((r, i) => expect(Buffer.compare(r, records[i])).toBe(0));
    } finally {
      raw.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('a call without magic: HGRP (or with another value) ends at once with PERMISSION_DENIED "bad handshake"', async () => {
    const server = await GrpcServer.listen();
    const raw = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure());
    try {
      for (const md of [new Metadata(), magic('HGRQ')]) {
        const pushErr = await new Promise<{ code: number; details: string }>((resolve) => {
          const call = raw.makeClientStreamRequest(PUSH_PATH, identity, identity, md, (err) => resolve(err as never));
          call.write(tensorData(goldenRecords()[0]));
        });
        expect({ code: pushErr.code, details: pushErr.details }).toEqual({ code: status.PERMISSION_DENIED, details: 'bad handshake' });
        const popErr = await new Promise<{ code: number; details: string }>((resolve) => {
          const call = raw.makeServerStreamRequest(POP_PATH, identity, identity, Buffer.alloc(0), md);
          call.on('error', resolve);
          call.on('data', () => resolve({ code: -1, details: 'data arrived' }));
        });
        expect({ code: popErr.code, details: popErr.details }).toEqual({ code: status.PERMISSION_DENIED, details: 'bad handshake' });
      }
      // Nothing reached the queue.
      expect(server.size).toBe(0);
    } finally {
      raw.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('our clients turn a refused handshake into ERR_HANDSHAKE', async () => {
    // A server of another kind that refuses every call the way a Harmonics server refuses a bad magic.
    const other = new Server();
    const refuse = { code: status.PERMISSION_DENIED, details: 'bad handshake' };
    other.addService(
      {
        PushTensor: {
          path: PUSH_PATH,
          requestStream: true,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
        PopTensor: {
          path: POP_PATH,
          requestStream: false,
          responseStream: true,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        PushTensor: (_call: unknown, cb: (e: typeof refuse) => void) => cb(refuse),
        PopTensor: (call: { emit(e: string, v: unknown): void }) => call.emit('error', refuse),
      },
    );
    const port = await new Promise<number>((r, j) => other.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
    const producer = new GrpcProducer('127.0.0.1', port);
    const consumer = new GrpcConsumer('127.0.0.1', port);
    try {
      const popped = await errorOf(producer.next());
      expect(popped?.code).toBe('ERR_HANDSHAKE');
      expect(popped?.message).toMatch(/magic: HGRP/);
      await sleep(50);
      expect((await errorOf(consumer.push(tensor('uint8', [1]))))?.code).toBe('ERR_HANDSHAKE');
    } finally {
      await producer.close();
      await consumer.close().catch(() => undefined);
      other.forceShutdown();
    }
  });
});

describe('limits and windows', () => {
  it('maxMessageBytes defaults to 256 MiB: a 64 MiB tensor goes through (gRPC alone would refuse over 4 MiB)', async () => {
    const server = await GrpcServer.listen();
    const consumer = new GrpcConsumer('127.0.0.1', server.port);
    const producer = new GrpcProducer('127.0.0.1', server.port);
    try {
      const big = sampleTensor('float32', [16, 1024, 1024], 3);
      const reading = producer.next();
      await consumer.push(big);
      expectSameTensor(await reading, big);
    } finally {
      await consumer.close();
      await producer.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('a receiver with a smaller maxMessageBytes refuses the message: ERR_TOO_LARGE on both sides, earlier tensors kept', async () => {
    const server = await GrpcServer.listen({ maxMessageBytes: 64 * 1024 });
    const consumer = new GrpcConsumer('127.0.0.1', server.port); // 256 MiB: sends it
    try {
      const ok = sampleTensor('uint8', [1000], 1);
      await consumer.push(ok);
      await consumer.push(tensor('uint8', [128 * 1024]));
      expectSameTensor(await server.pop(), ok);
      expect((await errorOf(consumer.close()))?.code).toBe('ERR_TOO_LARGE');
    } finally {
      await server.close({ timeoutMs: 0 });
    }
    const big = await GrpcServer.listen({ endWithLastWriter: false });
    const small = new GrpcProducer('127.0.0.1', big.port, { maxMessageBytes: 64 * 1024 });
    try {
      await big.push(sampleTensor('uint8', [1000], 2));
      await big.push(tensor('uint8', [128 * 1024]));
      expectSameTensor(await small.next(), sampleTensor('uint8', [1000], 2));
      expect((await errorOf(small.next()))?.code).toBe('ERR_TOO_LARGE');
    } finally {
      await small.close();
      await big.close({ timeoutMs: 0 });
    }
  });

  it('a tensor over maxMessageBytes is refused before anything is sent', async () => {
    const server = await GrpcServer.listen({ endWithLastWriter: false });
    const consumer = new GrpcConsumer('127.0.0.1', server.port, { maxMessageBytes: 1024 });
    try {
      const err = await errorOf(consumer.push(tensor('uint8', [2048])));
      expect(err?.code).toBe('ERR_TOO_LARGE');
      expect(err?.message).toMatch(/maxMessageBytes|maxMessageBytes/);
      await consumer.close();
      expect(server.size).toBe(0);
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });

  for (const how of ['fastPaths: false', 'HARMONICS_FAST_PATHS=0'] as const) {
    it(`fast paths off (${how}): the server keeps HTTP/2's default window, and large tensors round-trip bit-exact through grpc-js's public API`, async () => {
      const off = how === 'fastPaths: false' ? { fastPaths: false } : {};
      const saved = process.env.HARMONICS_FAST_PATHS;
      if (how === 'HARMONICS_FAST_PATHS=0') process.env.HARMONICS_FAST_PATHS = '0';
      const server = await GrpcServer.listen({ ...off, endWithLastWriter: false });
      const session = h2connect(`http://127.0.0.1:${server.port}`);
      const consumer = new GrpcConsumer('127.0.0.1', server.port, off);
      const producer = new GrpcProducer('127.0.0.1', server.port, off);
      try {
        const settings = await new Promise<{ initialWindowSize?: number }>((r) => session.once('remoteSettings', r));
        expect(settings.initialWindowSize).toBe(65535);
        const sent = [sampleTensor('float32', [512, 1024], 3), sampleTensor('int8', [100], 4)];
        for (const t of sent) await consumer.push(t);
        for (const t of sent) expectSameTensor(await producer.next(), t);
      } finally {
        session.destroy();
        await consumer.close();
        await producer.close();
        await server.close({ timeoutMs: 0 });
        if (saved === undefined) delete process.env.HARMONICS_FAST_PATHS;
        else process.env.HARMONICS_FAST_PATHS = saved;
      }
    });
  }

  it('the server advertises a 16 MiB HTTP/2 window instead of 64 KiB', async () => {
    const server = await GrpcServer.listen();
    const session = h2connect(`http://127.0.0.1:${server.port}`);
    try {
      const settings = await new Promise<{ initialWindowSize?: number }>((r) => session.once('remoteSettings', r));
      expect(settings.initialWindowSize).toBe(DEFAULT_FLOW_CONTROL_WINDOW);
    } finally {
      session.destroy();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('a record the server cannot decode ends that call with ERR_PROTOCOL; the queue keeps what came before', async () => {
    const server = await GrpcServer.listen({ endWithLastWriter: false });
    const raw = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure());
    try {
      const good = goldenRecords()[0];
      const bad = Buffer.from(good);
      bad[0] = 200; // unknown dtype
      const err = await new Promise<{ code: number; metadata: Metadata }>((resolve) => {
        const call = raw.makeClientStreamRequest(PUSH_PATH, identity, identity, magic(), (e) => resolve(e as never));
        call.write(tensorData(good));
        call.write(tensorData(bad));
        call.end();
      });
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.metadata.get('harmonics-error-code')).toEqual(['ERR_BAD_DTYPE']);
      expectSameTensor(await server.pop(), expectedGoldenTensors()[0]);
    } finally {
      raw.close();
      await server.close({ timeoutMs: 0 });
    }
  });
});

describe('connections, deadlines and reconnects', () => {
  it('no server: next() rejects ERR_CONNECT and push() or close() reports it', async () => {
    const probe = await GrpcServer.listen();
    const port = probe.port;
    await probe.close({ timeoutMs: 0 });
    const producer = new GrpcProducer('127.0.0.1', port);
    expect((await errorOf(producer.next()))?.code).toBe('ERR_CONNECT');
    await producer.close();
    const consumer = new GrpcConsumer('127.0.0.1', port);
    await sleep(300);
    const pushed = await errorOf(consumer.push(tensor('uint8', [1])));
    const closed = await errorOf(consumer.close());
    expect(pushed?.code ?? closed?.code).toBe('ERR_CONNECT');
  });

  it('a server that accepts the connection and never answers: both clients reject ERR_CONNECT after connectTimeoutMs (default 10 s)', async () => {
    const sockets: import('node:net').Socket[] = [];
    const hole = createNetServer((s) => sockets.push(s)); // accepts, says nothing (a wrong service, a hung process)
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    const started = Date.now();
    const producer = new GrpcProducer('127.0.0.1', port); // the default
    const consumer = new GrpcConsumer('127.0.0.1', port, { connectTimeoutMs: 300 });
    try {
      const ce = await errorOf(consumer.close());
      expect([ce?.code, Date.now() - started < 5000]).toEqual(['ERR_CONNECT', true]);
      expect(ce?.message).toMatch(/connectTimeoutMs/);
      const pe = await errorOf(producer.next());
      expect([pe?.code, Date.now() - started < 20_000]).toEqual(['ERR_CONNECT', true]);
    } finally {
      await producer.close();
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });

  it('a stopped server makes a producer without timeoutMs reject ERR_CONNECTION_LOST rather than hang', async () => {
    const server = await GrpcServer.listen();
    const writer = server.consumer();
    const producer = new GrpcProducer('127.0.0.1', server.port);
    try {
      await writer.push(tensor('int32', [1], [1]));
      expectSameTensor(await producer.next(), tensor('int32', [1], [1]));
      const waiting = producer.next();
      await server.close({ timeoutMs: 0 });
      expect((await errorOf(waiting))?.code).toBe('ERR_CONNECTION_LOST');
      expect((await errorOf(producer.next()))?.code).toBe('ERR_CONNECTION_LOST');
    } finally {
      await producer.close();
    }
  });

  it('with timeoutMs, a server restarted mid-stream is reconnected to: the broken call is reported once (ERR_CONNECTION_LOST), and what is pushed again arrives', async () => {
    const first = await GrpcServer.listen({ endWithLastWriter: false });
    const port = first.port;
    const producer = new GrpcProducer('127.0.0.1', port, { timeoutMs: 10_000 });
    const consumer = new GrpcConsumer('127.0.0.1', port, { timeoutMs: 10_000 });
    let second: GrpcServer | undefined;
    try {
      for (let i = 0; i < 3; i++) await consumer.push(tensor('int32', [1], [i]));
      for (let i = 0; i < 3; i++) expect((await producer.next())!.data[0]).toBe(i);
      const waiting = producer.next(); // waits across the restart
      await first.close({ timeoutMs: 0 });
      second = await GrpcServer.listen({ port, endWithLastWriter: false });
      // The consumer reports the broken call once (the tensors pushed on it may be lost); we resend from there.
      const errors: Error[] = [];
      for (let i = 3; i < 6;) {
        try {
          await consumer.push(tensor('int32', [1], [i]));
          i++;
        } catch (err) {
          errors.push(err as Error);
          if (errors.length > 1) throw err;
          i = 3;
        }
      }
      expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['ERR_CONNECTION_LOST']);
      expect(errors[0].message).toMatch(/up to \d+ tensor\(s\) pushed on it may not have arrived/);
      const after = [(await waiting)!.data[0]];
      for (let i = 4; i < 6; i++) after.push((await producer.next())!.data[0]);
      expect(after).toEqual([3, 4, 5]);
    } finally {
      await producer.close();
      await consumer.close().catch(() => undefined);
      await first.close({ timeoutMs: 0 });
      await second?.close({ timeoutMs: 0 });
    }
  }, 60_000);

  it('with timeoutMs, calls outlive their deadlines without losing or reordering tensors', async () => {
    const server = await GrpcServer.listen();
    const consumer = new GrpcConsumer('127.0.0.1', server.port, { timeoutMs: 400 });
    const producer = new GrpcProducer('127.0.0.1', server.port, { timeoutMs: 400 });
    try {
      const n = 120;
      const reading = (async () => {
        const seen: number[] = [];
        for (let t = await producer.next(); t !== undefined; t = await producer.next()) seen.push(t.data[0] as number);
        return seen;
      })();
      for (let i = 0; i < n; i++) {
        await consumer.push(tensor('int32', [1], [i]));
        await sleep(12); // ~1.5 s in all: several deadlines on both calls
      }
      await consumer.close();
      expect(await reading).toEqual(Array.from({ length: n }, (_, i) => i));
    } finally {
      await producer.close();
      await server.close({ timeoutMs: 0 });
    }
  }, 60_000);

  it('with timeoutMs, next() on an idle stream rejects ERR_TIMEOUT and the producer stays usable', async () => {
    const server = await GrpcServer.listen({ endWithLastWriter: false });
    const producer = new GrpcProducer('127.0.0.1', server.port, { timeoutMs: 300 });
    try {
      const started = Date.now();
      expect((await errorOf(producer.next()))?.code).toBe('ERR_TIMEOUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      await server.push(tensor('uint8', [2], [7, 8]));
      expectSameTensor(await producer.next(), tensor('uint8', [2], [7, 8]));
    } finally {
      await producer.close();
      await server.close({ timeoutMs: 0 });
    }
  });
});

describe('close() leaves nothing running', () => {
  it('clients with timeoutMs and a server, all closed: the process exits at once (it waited out 8 s timers)', async () => {
    // A real process, as a user's would be: it must exit as soon as everything is closed.
    const child = spawn(process.execPath, [join(__dirname, 'fixtures/exit-after-close.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let closedAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (closedAt === 0 && out.includes('closed')) closedAt = Date.now();
    });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(out).toMatch(/^closed \[\]/); // no Timeout among the active resources
    expect(Date.now() - closedAt).toBeLessThan(2000);
  });
});

describe('TLS and metadata', () => {
  it("tls takes Node's options on both sides: mutual TLS, and a version floor an older client cannot meet", async () => {
    const server = await GrpcServer.listen({
      tls: { key: TLS_KEY, cert: TLS_CERT, ca: TLS_CERT, requestCert: true, minVersion: 'TLSv1.3' },
      endWithLastWriter: false,
    });
    const trusted = { ca: TLS_CERT, servername: 'localhost' };
    const good = new GrpcConsumer('127.0.0.1', server.port, { tls: { ...trusted, cert: TLS_CERT, key: TLS_KEY } });
    const noCert = new GrpcConsumer('127.0.0.1', server.port, { tls: trusted });
    const tooOld = new GrpcConsumer('127.0.0.1', server.port, { tls: { ...trusted, cert: TLS_CERT, key: TLS_KEY, maxVersion: 'TLSv1.2' } });
    try {
      const t = sampleTensor('int16', [5], 2);
      await good.push(t);
      expectSameTensor(await server.producer().next(), t);
      for (const refused of [noCert, tooOld]) {
        const err = await errorOf(refused.push(t).then(() => refused.close()));
        expect(['ERR_HANDSHAKE', 'ERR_CONNECT', 'ERR_CONNECTION_LOST']).toContain(err?.code);
      }
    } finally {
      for (const c of [good, noCert, tooOld]) await c.close().catch(() => undefined);
      await server.close({ timeoutMs: 0 });
    }
  });

  it('TLS with a CA round-trips; a client that does not trust the certificate gets an error, not a hang', async () => {
    const server = await GrpcServer.listen({ tls: { key: TLS_KEY, cert: TLS_CERT } });
    const consumer = new GrpcConsumer('localhost', server.port, { tls: { ca: TLS_CERT } });
    const producer = new GrpcProducer('127.0.0.1', server.port, { tls: { ca: TLS_CERT, servername: 'localhost' } });
    const untrusting = new GrpcProducer('127.0.0.1', server.port, { tls: {} });
    try {
      const t = sampleTensor('float64', [3, 3], 4);
      await consumer.push(t);
      expectSameTensor(await producer.next(), t);
      const err = await errorOf(untrusting.next());
      expect(['ERR_HANDSHAKE', 'ERR_CONNECT']).toContain(err?.code);
    } finally {
      await consumer.close();
      await producer.close();
      await untrusting.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('a metadata hook runs before every call (fresh tokens); the server authorize hook refuses others with ERR_HANDSHAKE', async () => {
    const server = await GrpcServer.listen({
      endWithLastWriter: false,
      authorize: (md) => String(md.get('authorization')[0] ?? '').startsWith('Bearer good-'),
    });
    let issued = 0;
    const hook = () => ({ authorization: `Bearer good-${++issued}` });
    const producer = new GrpcProducer('127.0.0.1', server.port, { metadata: hook });
    const consumer = new GrpcConsumer('127.0.0.1', server.port, { metadata: hook });
    const intruder = new GrpcProducer('127.0.0.1', server.port, { metadata: { authorization: 'Bearer bad' } });
    try {
      await consumer.push(tensor('int8', [2], [-1, 1]));
      expectSameTensor(await producer.next(), tensor('int8', [2], [-1, 1]));
      expect(issued).toBe(2);
      const err = await errorOf(intruder.next());
      expect(err?.code).toBe('ERR_HANDSHAKE');
    } finally {
      await consumer.close();
      await producer.close();
      await intruder.close();
      await server.close({ timeoutMs: 0 });
    }
  });
});

describe('the broker', () => {
  it('close() drops the tensors still queued: a closed server holds none of them', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const server = await GrpcServer.listen();
    let queued: Tensor | undefined = tensor('float32', [1024], new Float32Array(1024));
    const ref = new WeakRef(queued);
    await server.push(queued);
    queued = undefined;
    await server.close({ timeoutMs: 0 });
    await new Promise((r) => setTimeout(r, 0)); // a new job: WeakRef targets are kept until the current one ends
    gc();
    expect(ref.deref()).toBeUndefined();
  });

  it('one queue: remote and local writers feed it, remote and local readers drain it, each tensor read once', async () => {
    const server = await GrpcServer.listen();
    const remoteIn = new GrpcConsumer('127.0.0.1', server.port);
    const localIn = server.consumer();
    const remoteOut = new GrpcProducer('127.0.0.1', server.port);
    const localOut = server.producer();
    try {
      const n = 200;
      const writing = (async () => {
        for (let i = 0; i < n; i++) await (i % 2 ? remoteIn : localIn).push(tensor('int32', [1], [i]));
        await remoteIn.close();
        await localIn.close();
      })();
      const drain = async (p: GrpcProducer | ReturnType<GrpcServer['producer']>) => {
        const seen: number[] = [];
        for await (const t of p) seen.push(t.data[0] as number);
        return seen;
      };
      const [a, b] = await Promise.all([drain(remoteOut), drain(localOut), writing]);
      expect([...a, ...b].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });

  it('closing the local producer rejects its pending next() ERR_CLOSED, and that call takes nothing from the queue', async () => {
    const server = await GrpcServer.listen();
    try {
      const local = server.producer();
      const pending = local.next();
      const aborted = server.producer();
      const pendingAborted = aborted.next({ signal: AbortSignal.timeout(10_000) });
      await new Promise((r) => setTimeout(r, 20));
      await local.close();
      await aborted.close();
      expect(await codeOf(pending)).toBe('ERR_CLOSED');
      expect(await codeOf(pendingAborted)).toBe('ERR_CLOSED');
      expect(await codeOf(local.next())).toBe('ERR_CLOSED');
      // What arrives afterwards goes to the readers still there, not to the closed one.
      const writer = server.consumer();
      await writer.push(tensor('int32', [2], [7, 8]));
      await writer.close();
      const t = await server.pop();
      expect(Array.from(t!.data as Int32Array)).toEqual([7, 8]);
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });

  it('close() is graceful: a reader gets what is queued and the end; after the timeout, calls end with UNAVAILABLE', async () => {
    const server = await GrpcServer.listen({ endWithLastWriter: false });
    const producer = new GrpcProducer('127.0.0.1', server.port);
    await server.push(tensor('int32', [1], [0]));
    expectSameTensor(await producer.next(), tensor('int32', [1], [0])); // connected
    await server.push(tensor('int32', [1], [1]));
    server.end();
    const closing = server.close({ timeoutMs: 5000 });
    expectSameTensor(await producer.next(), tensor('int32', [1], [1]));
    expect(await producer.next()).toBeUndefined();
    await closing;
    await producer.close();

    const stuck = await GrpcServer.listen();
    const writer = new GrpcConsumer('127.0.0.1', stuck.port);
    await writer.push(tensor('int32', [1], [2]));
    while (stuck.size === 0) await sleep(5); // the writer's call is live
    const started = Date.now();
    await stuck.close({ timeoutMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await errorOf(writer.close()))?.code).toBe('ERR_CONNECTION_LOST');
  });
});

describe('keepalive and the option vocabulary', () => {
  it('a server that goes silent without closing: next() rejects ERR_CONNECTION_LOST within keepAliveMs + keepAliveTimeoutMs', async () => {
    const server = await GrpcServer.listen({ endWithLastWriter: false });
    const proxy = await FreezableProxy.start(server.port);
    const producer = new GrpcProducer('127.0.0.1', proxy.port, { keepAliveMs: 500, keepAliveTimeoutMs: 500 });
    try {
      await server.push(tensor('int32', [1], [7]));
      expectSameTensor(await producer.next(), tensor('int32', [1], [7]));
      const waiting = producer.next();
      proxy.freeze();
      const started = Date.now();
      const err = await errorOf(waiting);
      expect([err?.code, Date.now() - started < 5000]).toEqual(['ERR_CONNECTION_LOST', true]);
    } finally {
      await producer.close();
      await proxy.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('the server drops a client that went silent, so its PopTensor call takes nothing more from the queue', async () => {
    const server = await GrpcServer.listen({ endWithLastWriter: false, keepAliveMs: 300, keepAliveTimeoutMs: 300 });
    const proxy = await FreezableProxy.start(server.port);
    const producer = new GrpcProducer('127.0.0.1', proxy.port, { keepAliveMs: 0 });
    try {
      await server.push(tensor('int32', [1], [1]));
      expectSameTensor(await producer.next(), tensor('int32', [1], [1]));
      producer.next().catch(() => undefined); // a PopTensor call waits on the server
      await sleep(100);
      proxy.freeze();
      await sleep(1500); // the server's ping goes unanswered; it drops the connection and the call
      await server.push(tensor('int32', [1], [2]));
      // Still in the queue for other readers, not sent into the frozen connection.
      const local = server.producer();
      expectSameTensor(await local.next(), tensor('int32', [1], [2]));
      await local.close();
    } finally {
      await producer.close();
      await proxy.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('maxMessageSize still works as a deprecated alias of maxMessageBytes', async () => {
    const server = await GrpcServer.listen({ maxMessageSize: 4096, endWithLastWriter: false });
    const consumer = new GrpcConsumer('127.0.0.1', server.port, { maxMessageSize: 2048 });
    try {
      expect(server.maxMessageBytes).toBe(4096);
      expect(await codeOf(consumer.push(tensor('uint8', [4096])))).toBe('ERR_TOO_LARGE');
    } finally {
      await consumer.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('bad options are ERR_INVALID_ARGUMENT, thrown where they are passed', async () => {
    expect(codeOfSync(() => new GrpcProducer('127.0.0.1', 0))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new GrpcProducer('127.0.0.1', 9, { maxMessageBytes: -1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new GrpcConsumer('127.0.0.1', 9, { keepAliveMs: -5 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new GrpcConsumer('127.0.0.1', 9, { connectTimeoutMs: Number.NaN }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(GrpcServer.listen({ capacity: 0 }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('await using closes a server', async () => {
    let port: number;
    {
      await using server = await GrpcServer.listen();
      port = server.port;
    }
    const err = await errorOf(new GrpcProducer('127.0.0.1', port, { connectTimeoutMs: 2000 }).next());
    expect(err?.code).toBe('ERR_CONNECT');
  });
});

describe('GrpcServer connection limits', () => {
  it('a connection with no call open is closed after idleTimeoutMs; a client waiting in a call is kept', async () => {
    const server = await GrpcServer.listen({ idleTimeoutMs: 400, endWithLastWriter: false });
    const proxy = await FreezableProxy.start(server.port);
    const idle = new GrpcConsumer('127.0.0.1', proxy.port);
    const producer = new GrpcProducer('127.0.0.1', server.port);
    try {
      await idle.push(tensor('int32', [1], [1]));
      await idle.close(); // its call ends; its connection stays open in grpc-js until the server closes it
      expectSameTensor(await producer.next(), tensor('int32', [1], [1]));
      const waiting = producer.next(); // a PopTensor call stays open: not idle
      for (let i = 0; i < 50 && proxy.connections > 0; i++) await sleep(100);
      expect(proxy.connections).toBe(0);
      await sleep(500);
      await server.push(tensor('int32', [1], [8]));
      expectSameTensor(await waiting, tensor('int32', [1], [8]));
    } finally {
      await producer.close();
      await proxy.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('bad limits are ERR_INVALID_ARGUMENT', async () => {
    expect(await codeOf(GrpcServer.listen({ idleTimeoutMs: -1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(GrpcServer.listen({ maxConcurrentCalls: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(GrpcServer.listen({ maxConnections: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(GrpcServer.listen({ handshakeTimeoutMs: -5 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});
