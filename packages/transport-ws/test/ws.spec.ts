import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeTensor, encodeTensor, tensor } from '@harmonics/core';
import { errorOf, expectSameTensor, expectedGoldenTensors, goldenRecords, sampleTensor } from '@harmonics/conformance';
import WebSocket, { WebSocketServer as RawWebSocketServer } from 'ws';
import { WebSocketConsumer, WebSocketProducer, WebSocketServer } from '@harmonics/transport-ws';

const TLS_KEY = readFileSync(join(__dirname, 'fixtures/key.pem'));
const TLS_CERT = readFileSync(join(__dirname, 'fixtures/cert.pem'));

/** A raw `ws` client; resolves once open. */
async function rawClient(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitUntil(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
const closeCodeOf = (ws: WebSocket) => new Promise<number>((r) => ws.once('close', (code) => r(code)));

describe('wire format', () => {
  it('golden records sent by a raw ws client decode to the golden tensors; ours arrive as the same bytes', async () => {
    const server = await WebSocketServer.listen();
    try {
      const raw = await rawClient(`ws://127.0.0.1:${server.port}`);
      const producer = (await server.accept()).producer();
      const records = goldenRecords();
      for (const r of records) raw.send(r);
      const want = expectedGoldenTensors();
      for (const t of want) expectSameTensor(await producer.next(), t);
      raw.close(1000);
      expect(await producer.next()).toBeUndefined();

      const raw2 = await rawClient(`ws://127.0.0.1:${server.port}`);
      const received: Buffer[] = [];
      raw2.on('message', (d: Buffer) => received.push(d));
      const consumer = await server.acceptConsumer();
      for (const t of want) await consumer.push(t);
      const closed = closeCodeOf(raw2);
      await consumer.close();
      expect(await closed).toBe(1000);
      received.forEach((r, i) => expect(Buffer.compare(r, Buffer.from(records[i]))).toBe(0));
      expect(received.length).toBe(records.length);
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('a text frame rejects ERR_PROTOCOL and closes with 1003; tensors before it are delivered', async () => {
    const server = await WebSocketServer.listen();
    try {
      const raw = await rawClient(`ws://127.0.0.1:${server.port}`);
      const producer = await server.acceptProducer();
      const closed = closeCodeOf(raw);
      raw.send(goldenRecords()[0]);
      raw.send('hello');
      expectSameTensor(await producer.next(), expectedGoldenTensors()[0]);
      expect((await errorOf(producer.next()))?.code).toBe('ERR_PROTOCOL');
      expect(await closed).toBe(1003);
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('a binary message that is not exactly one record rejects ERR_PROTOCOL and closes with 1007', async () => {
    const server = await WebSocketServer.listen();
    try {
      for (const bad of [
        Buffer.concat([goldenRecords()[0], goldenRecords()[1]]), // two records
        goldenRecords()[0].subarray(0, 10), // cut short
        Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 0]), // unknown dtype
      ]) {
        const raw = await rawClient(`ws://127.0.0.1:${server.port}`);
        const producer = await server.acceptProducer();
        const closed = closeCodeOf(raw);
        raw.send(bad);
        expect((await errorOf(producer.next()))?.code).toBe('ERR_PROTOCOL');
        expect(await closed).toBe(1007);
      }
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('a message over maxMessageBytes closes with 1009: ERR_TOO_LARGE on the receiver, and on the sender before sending', async () => {
    const server = await WebSocketServer.listen({ maxMessageBytes: 64 * 1024 });
    try {
      const consumer = new WebSocketConsumer('127.0.0.1', server.port); // 256 MiB: sends it
      const producer = await server.acceptProducer();
      await consumer.push(sampleTensor('uint8', [100], 1));
      await consumer.push(tensor('uint8', [128 * 1024]));
      expectSameTensor(await producer.next(), sampleTensor('uint8', [100], 1));
      expect((await errorOf(producer.next()))?.code).toBe('ERR_TOO_LARGE');
      expect((await errorOf(consumer.close()))?.code).toBe('ERR_TOO_LARGE');
      const small = new WebSocketConsumer('127.0.0.1', server.port, '/', { maxMessageBytes: 1024 });
      expect((await errorOf(small.push(tensor('uint8', [2048]))))?.code).toBe('ERR_TOO_LARGE');
      await small.close();
    } finally {
      await server.close({ closeConnections: true });
    }
  });
});

describe('large tensors: header and data frames', () => {
  it('go out as one message of two frames: the header, then the data', async () => {
    const server = await WebSocketServer.listen();
    try {
      const raw = await rawClient(`ws://127.0.0.1:${server.port}`);
      raw.binaryType = 'fragments';
      const messages: Buffer[][] = [];
      raw.on('message', (frames: Buffer[]) => messages.push(frames));
      const consumer = await server.acceptConsumer();
      const big = sampleTensor('float32', [256, 256], 3); // 256 KiB
      await consumer.push(big);
      await consumer.push(tensor('int8', [3], [1, -2, 3])); // small: one frame
      const closed = closeCodeOf(raw);
      await consumer.close();
      await closed;
      expect(messages.map((m) => m.map((f) => f.length))).toEqual([[17, 256 * 1024], [16]]);
      const [header, data] = messages[0]!;
      expectSameTensor(decodeTensor(Buffer.concat([header!, data!])), big);
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it("arrive in the data frame's own memory (no copy), and the sender may reuse the tensor once push() resolves", async () => {
    const server = await WebSocketServer.listen();
    try {
      const consumer = new WebSocketConsumer('127.0.0.1', server.port);
      const producer = await server.acceptProducer();
      const t = sampleTensor('float64', [64, 1024], 5); // 512 KiB
      const expected = tensor('float64', t.shape, Float64Array.from(t.data as Float64Array));
      const reading = (async () => {
        const got = [];
        for (let i = 0; i < 20; i++) got.push(await producer.next());
        return got;
      })();
      for (let i = 0; i < 20; i++) {
        await consumer.push(t);
        (t.data as Float64Array).fill(i); // after push() resolved: must not reach the peer
        (t.data as Float64Array).set(expected.data as Float64Array);
      }
      for (const got of await reading) {
        expectSameTensor(got, expected);
        expect(got!.data.byteOffset).toBe(0);
        expect(got!.data.buffer.byteLength).toBe(t.data.byteLength); // the frame's buffer, not a copy of a larger one
      }
      await consumer.close();
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('small records framed by the server, large ones through ws, pings in between: one message each, in push() order', async () => {
    const server = await WebSocketServer.listen();
    try {
      const raw = await rawClient(`ws://127.0.0.1:${server.port}`);
      const received: Buffer[] = [];
      raw.on('message', (d: Buffer) => received.push(d));
      const pongs: number[] = [];
      raw.on('pong', () => pongs.push(received.length));
      const consumer = await server.acceptConsumer();
      const sent: Uint8Array[] = [];
      const pushes: Promise<void>[] = [];
      for (let i = 0; i < 300; i++) {
        // 1 KiB, 100 KiB (two frames), a 0-d tensor, and a 70 KB one just over our own framing limit.
        const t = [
          sampleTensor('float32', [256], i),
          sampleTensor('uint8', [100 * 1024], i),
          tensor('int64', [], [BigInt(i)]),
          sampleTensor('int8', [70_000], i),
        ][i % 4]!;
        sent.push(encodeTensor(t));
        pushes.push(consumer.push(t)); // not awaited: many in one tick
        if (i % 50 === 0) raw.ping();
      }
      await Promise.all(pushes);
      const closed = closeCodeOf(raw);
      await consumer.close();
      expect(await closed).toBe(1000);
      expect(received.length).toBe(sent.length);
      received.forEach((r, i) => expect(Buffer.compare(r, Buffer.from(sent[i]!))).toBe(0));
      expect(pongs.length).toBe(6);
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('a client that goes away while the server is sending: the consumer rejects ERR_CONNECTION_LOST, no crash', async () => {
    const server = await WebSocketServer.listen();
    try {
      const raw = await rawClient(`ws://127.0.0.1:${server.port}`);
      const consumer = await server.acceptConsumer();
      const t = sampleTensor('float32', [256], 1);
      let n = 0;
      raw.on('message', () => {
        if (++n === 100) raw.terminate();
      });
      const err = await errorOf(
        (async () => {
          for (let i = 0; i < 1_000_000; i++) await consumer.push(t);
        })(),
      );
      expect(err?.code).toBe('ERR_CONNECTION_LOST');
      await consumer.close().catch(() => undefined);
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('a record split into other frames by a foreign sender is joined and decoded', async () => {
    const server = await WebSocketServer.listen();
    try {
      const raw = await rawClient(`ws://127.0.0.1:${server.port}`);
      const producer = await server.acceptProducer();
      const t = sampleTensor('int16', [5, 7], 9);
      const record = encodeTensor(t);
      for (const cuts of [[1], [5, 9, 40], [13], [13, 14]]) {
        const points = [0, ...cuts, record.length];
        for (let i = 0; i + 1 < points.length; i++) raw.send(record.subarray(points[i], points[i + 1]), { fin: i + 2 === points.length });
        expectSameTensor(await producer.next(), t);
      }
      raw.close(1000);
      expect(await producer.next()).toBeUndefined();
    } finally {
      await server.close({ closeConnections: true });
    }
  });
});

describe('connections', () => {
  it('no server: ERR_CONNECT; wrong path or a refusing verifyClient: ERR_HANDSHAKE', async () => {
    const server = await WebSocketServer.listen({
      path: '/tensors',
      verifyClient: ({ req }) => req.headers.authorization === 'Bearer good',
    });
    const port = server.port;
    try {
      const wrongPath = new WebSocketProducer('127.0.0.1', port, '/other', { headers: { authorization: 'Bearer good' } });
      expect((await errorOf(wrongPath.next()))?.code).toBe('ERR_HANDSHAKE');
      const noToken = new WebSocketProducer('127.0.0.1', port, '/tensors');
      expect((await errorOf(noToken.next()))?.code).toBe('ERR_HANDSHAKE');
      const ok = new WebSocketConsumer('127.0.0.1', port, '/tensors', { headers: { authorization: 'Bearer good' } });
      const producer = await server.acceptProducer();
      await ok.push(tensor('int32', [1], [5]));
      expectSameTensor(await producer.next(), tensor('int32', [1], [5]));
      await ok.close();
      expect(await producer.next()).toBeUndefined();
    } finally {
      await server.close({ closeConnections: true });
    }
    const nobody = new WebSocketProducer(`ws://127.0.0.1:${port}/tensors`);
    expect((await errorOf(nobody.next()))?.code).toBe('ERR_CONNECT');
    expect(() => new WebSocketProducer('http://127.0.0.1:1/')).toThrow(/ws:\/\/ or wss:\/\//);
  });

  it('Origin: by default no Origin (non-browser) and same-host pages connect, other pages get 403 (ERR_HANDSHAKE); origins opens it', async () => {
    // What a browser page would send, and whether the upgrade went through.
    const tryOrigin = (port: number, origin: string | undefined, hostName?: string) =>
      new Promise<number>((resolve) => {
        const headers = hostName === undefined ? {} : { host: `${hostName}:${port}` }; // the name the client asked for
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers, ...(origin === undefined ? {} : { origin }) });
        ws.on('open', () => {
          ws.terminate();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => {
          ws.terminate();
          resolve(res.statusCode ?? 0);
        });
        ws.on('error', () => undefined);
      });
    const byDefault = await WebSocketServer.listen();
    try {
      const port = byDefault.port;
      expect(await tryOrigin(port, undefined)).toBe(101);
      expect(await tryOrigin(port, 'http://127.0.0.1:5173')).toBe(101); // a page from this host, any port
      expect(await tryOrigin(port, 'http://localhost:8080', 'localhost')).toBe(101);
      expect(await tryOrigin(port, 'https://evil.example')).toBe(403); // any other page the user visits
      expect(await tryOrigin(port, 'null')).toBe(403); // sandboxed frames, file:// pages
      expect(await tryOrigin(port, 'http://localhost:8080')).toBe(403); // another name than the one asked for
      const fromPage = new WebSocketProducer(`ws://127.0.0.1:${port}/`, { headers: { origin: 'https://evil.example' } });
      expect((await errorOf(fromPage.next()))?.code).toBe('ERR_HANDSHAKE');
    } finally {
      await byDefault.close({ closeConnections: true });
    }
    const listed = await WebSocketServer.listen({ origins: ['https://app.example'] });
    const byFunction = await WebSocketServer.listen({ origins: (origin) => origin.endsWith('.example') });
    const any = await WebSocketServer.listen({ origins: ['*'] });
    try {
      expect(await tryOrigin(listed.port, 'https://app.example')).toBe(101);
      expect(await tryOrigin(listed.port, 'https://evil.example')).toBe(403);
      expect(await tryOrigin(listed.port, undefined)).toBe(101);
      expect(await tryOrigin(byFunction.port, 'https://evil.example')).toBe(101);
      expect(await tryOrigin(byFunction.port, 'https://example.org')).toBe(403);
      expect(await tryOrigin(any.port, 'https://example.org')).toBe(101);
    } finally {
      await Promise.all([listed, byFunction, any].map((s) => s.close({ closeConnections: true })));
    }
  });

  it('a server that accepts the connection and never answers: clients reject ERR_CONNECT within connectTimeoutMs (default 10 s)', async () => {
    const sockets: import('node:net').Socket[] = [];
    const hole = createNetServer((s) => sockets.push(s)); // accepts, says nothing
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    try {
      const started = Date.now();
      const p = new WebSocketProducer(`ws://127.0.0.1:${port}/`); // the default: 10 s
      const c = new WebSocketConsumer(`ws://127.0.0.1:${port}/`, { connectTimeoutMs: 300 });
      const ce = await errorOf(c.push(tensor('int32', [1], [1])));
      expect([ce?.code, Date.now() - started < 5000]).toEqual(['ERR_CONNECT', true]);
      const pe = await errorOf(p.next());
      expect([pe?.code, Date.now() - started < 20_000]).toEqual(['ERR_CONNECT', true]);
      await Promise.all([p.close(), c.close().catch(() => undefined)]);
    } finally {
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });

  it('keepalive: a peer that goes silent without closing is ERR_CONNECTION_LOST within idleTimeoutMs; a live idle peer is kept', async () => {
    const keep = { keepAliveMs: 50, idleTimeoutMs: 300 };
    // A server that answers no ping and sends nothing (a frozen process): the client notices.
    const mute = new RawWebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false });
    await new Promise((r) => mute.once('listening', r));
    const started = Date.now();
    const p = new WebSocketProducer(`ws://127.0.0.1:${(mute.address() as { port: number }).port}/`, keep);
    const err = await errorOf(p.next());
    expect([err?.code, Date.now() - started < 5000]).toEqual(['ERR_CONNECTION_LOST', true]);
    expect(err?.message).toMatch(/went silent.*idleTimeoutMs/);
    await p.close();
    await new Promise((r) => mute.close(r));
    // A client that answers no ping: the server's accepted producer notices.
    const server = await WebSocketServer.listen(keep);
    try {
      const silent = new WebSocket(`ws://127.0.0.1:${server.port}/`, { autoPong: false });
      silent.on('error', () => undefined);
      const accepted = await server.acceptProducer();
      expect((await errorOf(accepted.next()))?.code).toBe('ERR_CONNECTION_LOST');
      silent.terminate();
      // A live peer idle for several idle limits stays connected: pings and pongs keep it.
      const c = new WebSocketConsumer(`ws://127.0.0.1:${server.port}/`, keep);
      const live = await server.acceptProducer();
      await new Promise((r) => setTimeout(r, 1000));
      await c.push(tensor('int32', [1], [42]));
      expect((await live.next())?.data[0]).toBe(42);
      await c.close();
      expect(await live.next()).toBeUndefined();
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('wss:// with TLS options; a client that does not trust the certificate gets ERR_HANDSHAKE', async () => {
    const server = await WebSocketServer.listen({ tls: { key: TLS_KEY, cert: TLS_CERT } });
    try {
      const consumer = new WebSocketConsumer(`wss://localhost:${server.port}/`, { tls: { ca: TLS_CERT } });
      const producer = await server.acceptProducer();
      const t = sampleTensor('float64', [16, 16], 2);
      await consumer.push(t);
      expectSameTensor(await producer.next(), t);
      await consumer.close();
      const untrusting = new WebSocketProducer(`wss://localhost:${server.port}/`);
      expect((await errorOf(untrusting.next()))?.code).toBe('ERR_HANDSHAKE');
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('attaches to an existing http server that keeps serving its own requests', async () => {
    const http = createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    const server = await WebSocketServer.listen({ server: http, path: '/ws' });
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('hello');
      const consumer = new WebSocketConsumer('127.0.0.1', port, '/ws');
      const producer = await server.acceptProducer();
      await consumer.push(tensor('uint16', [2], [1, 65535]));
      expectSameTensor(await producer.next(), tensor('uint16', [2], [1, 65535]));
      await consumer.close();
    } finally {
      await server.close({ closeConnections: true });
      await new Promise((r) => http.close(r));
    }
  });

  it('push() waits while bufferedAmount is over the high-water mark, and goes on when the peer reads', async () => {
    const server = await WebSocketServer.listen();
    try {
      const consumer = new WebSocketConsumer('127.0.0.1', server.port, '/', { highWaterMark: 1024 * 1024 });
      const incoming = await server.accept();
      incoming.socket.pause(); // the reader stops reading
      const big = tensor('float32', [1024 * 1024]); // 4 MiB
      let resolved = 0;
      const pushes: Promise<void>[] = [];
      for (let i = 0; i < 16; i++) pushes.push(consumer.push(big).then(() => void resolved++));
      await new Promise((r) => setTimeout(r, 300));
      expect(resolved).toBeLessThan(16); // held back: at most the high-water mark plus socket buffers
      const producer = incoming.producer();
      incoming.socket.resume();
      for (let i = 0; i < 16; i++) expect((await producer.next())?.data.length).toBe(1024 * 1024);
      await Promise.all(pushes);
      expect(resolved).toBe(16);
      await consumer.close();
    } finally {
      await server.close({ closeConnections: true });
    }
  });

  it('close() waits for the peer close frame, and gives up after closeTimeoutMs on a peer that never answers', async () => {
    const server = await WebSocketServer.listen();
    try {
      const consumer = new WebSocketConsumer('127.0.0.1', server.port, '/', { closeTimeoutMs: 300 });
      const incoming = await server.accept();
      await consumer.push(tensor('uint8', [1], [1]));
      // The peer stops reading, so it never sees nor answers our close frame.
      (incoming.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      const started = Date.now();
      await consumer.close();
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await server.close({ closeConnections: true });
    }
  });
});

describe('WebSocketServer.close and the option vocabulary', () => {
  it('close({ timeoutMs }) lets handed-out connections finish, then drops them; await using closes the server', async () => {
    let port: number;
    {
      await using server = await WebSocketServer.listen();
      port = server.port;
      const c = new WebSocketConsumer(`ws://127.0.0.1:${port}/`);
      const reader = await server.acceptProducer();
      await c.push(tensor('int32', [1], [1]));
      const closing = server.close({ timeoutMs: 300 });
      expectSameTensor(await reader.next(), tensor('int32', [1], [1])); // still served during the grace period
      await closing;
      expect((await errorOf(reader.next()))?.code).toBe('ERR_CONNECTION_LOST'); // dropped after it
      await c.close().catch(() => undefined);
    }
    expect((await errorOf(new WebSocketProducer(`ws://127.0.0.1:${port}/`, { connectTimeoutMs: 2000 }).next()))?.code).toBe('ERR_CONNECT');
  });

  it('a bad URL or port is ERR_INVALID_ARGUMENT', () => {
    expect(() => new WebSocketProducer('http://127.0.0.1:9/')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new WebSocketProducer('not a url')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('WebSocketServer resource limits', () => {
  it('a connection nobody accepted reads nothing: its sender is held back by TCP, not buffered by the server', async () => {
    const server = await WebSocketServer.listen();
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    try {
      await new Promise((r) => ws.once('open', r));
      const record = encodeTensor(tensor('uint8', [1024 * 1024 - 16]));
      for (let i = 0; i < 64; i++) ws.send(record);
      await sleep(1000);
      // 64 MiB sent; loopback TCP buffers hold a few MiB at most: the rest must still be ours to send.
      expect(ws.bufferedAmount).toBeGreaterThan(32 * 1024 * 1024);
      // Accepted, it is read again and everything arrives.
      const reader = await server.acceptProducer();
      for (let i = 0; i < 64; i++) expect((await reader.next())?.data.length).toBe(1024 * 1024 - 16);
      await reader.close();
    } finally {
      ws.terminate();
      await server.close({ closeConnections: true });
    }
  });

  it('maxConnections: beyond it, upgrades are refused with HTTP 503 (ERR_CONNECT for our clients); others stay served', async () => {
    const server = await WebSocketServer.listen({ maxConnections: 2 });
    const open = [new WebSocket(`ws://127.0.0.1:${server.port}/`), new WebSocket(`ws://127.0.0.1:${server.port}/`)];
    try {
      await Promise.all(open.map((w) => new Promise((r) => w.once('open', r))));
      const third = new WebSocketProducer(`ws://127.0.0.1:${server.port}/`);
      const err = await errorOf(third.next());
      expect(err?.code).toBe('ERR_CONNECT');
      expect(err?.message).toMatch(/connection limit \(HTTP 503\)/);
      await third.close();
      open[0].terminate();
      await waitUntil(() => server.connections < 2);
      const fourth = new WebSocketConsumer(`ws://127.0.0.1:${server.port}/`);
      const reader = await (async () => {
        await server.accept(); // the second raw one
        return server.acceptProducer();
      })();
      await fourth.push(tensor('int32', [1], [4]));
      expectSameTensor(await reader.next(), tensor('int32', [1], [4]));
      await fourth.close();
    } finally {
      for (const w of open) w.terminate();
      await server.close({ closeConnections: true });
    }
  });

  it('a connection that never sends its upgrade request is closed after handshakeTimeoutMs', async () => {
    const server = await WebSocketServer.listen({ handshakeTimeoutMs: 500 });
    const { connect } = await import('node:net');
    const s = connect(server.port, '127.0.0.1');
    try {
      const started = Date.now();
      await new Promise((r) => s.once('close', r));
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      s.destroy();
      await server.close({ closeConnections: true });
    }
  });
});

describe('WebSocketServer handshakeTimeoutMs', () => {
  it('does not touch connections once upgraded: an idle accepted connection outlives it', async () => {
    const server = await WebSocketServer.listen({ handshakeTimeoutMs: 200, keepAliveMs: 0 });
    const consumer = new WebSocketConsumer(`ws://127.0.0.1:${server.port}/`, { keepAliveMs: 0 });
    try {
      const reader = await server.acceptProducer();
      await sleep(700);
      await consumer.push(tensor('int32', [1], [3]));
      expectSameTensor(await reader.next(), tensor('int32', [1], [3]));
    } finally {
      await consumer.close();
      await server.close({ closeConnections: true });
    }
  });
});
