import { spawn } from 'node:child_process';
import { type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { type Tensor, encodeTensor, tensor } from '@harmonics/core';
import { FreezableProxy, expectSameTensor, expectedGoldenTensors, goldenFile, sampleTensor } from '@harmonics/conformance';
import { SocketConsumer, SocketServer, TcpConsumer, TcpProducer, UnixProducer } from '@harmonics/transport-net';
import { TLS_CERT, TLS_KEY, errorOf, sleep } from './helpers';

const golden = expectedGoldenTensors();
const servers: SocketServer[] = [];
async function listen(options: Parameters<typeof SocketServer.listen>[0] = {}): Promise<SocketServer> {
  const s = await SocketServer.listen(options);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close({ closeConnections: true })));
});

/** A raw TCP client to our server, for writing exact bytes. */
function rawClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

async function writeInChunks(socket: Socket, bytes: Uint8Array, size: number): Promise<void> {
  for (let o = 0; o < bytes.length; o += size) {
    if (!socket.write(bytes.subarray(o, Math.min(o + size, bytes.length)))) {
      await new Promise((r) => socket.once('drain', r));
    }
  }
}

describe('wire compatibility with the C++ SocketConsumer', () => {
  it.each([1, 7, 65536])(
    'reads socket-frames.bin sent through a real socket in %i-byte writes',
    async (size) => {
      const server = await listen();
      const accepting = server.acceptProducer();
      const raw = await rawClient(server.port!);
      raw.setNoDelay(true);
      const producer = await accepting;
      const bytes = goldenFile('socket-frames.bin');
      const writing = writeInChunks(raw, bytes, size).then(() => raw.end());
      const got: Tensor[] = [];
      for await (const t of producer) got.push(t);
      await writing;
      expect(got).toHaveLength(3);
      [0, 5, 9].forEach((k, i) => expectSameTensor(got[i], golden[k]));
    },
    120_000,
  );

  it('a SocketConsumer writes exactly the bytes of socket-frames.bin', async () => {
    const received: Buffer[] = [];
    const raw = createServer((s) => s.on('data', (d) => received.push(d)));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const port = (raw.address() as { port: number }).port;
    const c = new TcpConsumer('127.0.0.1', port);
    for (const k of [0, 5, 9]) await c.push(golden[k]);
    await c.close();
    await sleep(50);
    raw.close();
    expect(Buffer.compare(Buffer.concat(received), Buffer.from(goldenFile('socket-frames.bin')))).toBe(0);
  });
});

describe('two processes', () => {
  it('exchange 10,000 tensors of mixed dtypes over TCP, in order and bit-exact', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { mixedTensor } = require('./fixtures/mixed.cjs');
    const server = await listen();
    const child = spawn(process.execPath, [join(__dirname, 'fixtures/peer.mjs'), 'send', '127.0.0.1', String(server.port), '10000'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<number>((r) => child.once('exit', (code) => r(code ?? -1)));
    const producer = await server.acceptProducer();
    let i = 0;
    for await (const t of producer) {
      expectSameTensor(t, mixedTensor(i));
      i++;
    }
    expect(i).toBe(10_000);
    expect(await exited).toBe(0);
  }, 60_000);

  it('endMarker: a writer SIGKILLed between two records is ERR_CONNECTION_LOST after its tensors; a clean close() ends the stream', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { mixedTensor } = require('./fixtures/mixed.cjs');
    for (const how of ['killed', 'closed'] as const) {
      const server = await listen({ endMarker: true });
      const args = [
        join(__dirname, 'fixtures/peer.mjs'),
        'send-marked',
        '127.0.0.1',
        String(server.port),
        '50',
        ...(how === 'killed' ? ['hang'] : []),
      ];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise((r) => child.once('exit', r)); // listen now: it may exit before we read the last tensor
      const producer = await server.acceptProducer();
      if (how === 'killed') {
        await new Promise<void>((r) => child.stdout!.on('data', (d: Buffer) => String(d).includes('sent') && r()));
        child.kill('SIGKILL');
      }
      for (let i = 0; i < 50; i++) expectSameTensor(await producer.next(), mixedTensor(i));
      if (how === 'killed') expect((await errorOf(producer.next()))?.code).toBe('ERR_CONNECTION_LOST');
      else expect(await producer.next()).toBeUndefined();
      await exited;
      await server.close();
    }
  }, 60_000);

  it('reads from a file descriptor (the C++ socket:FD target)', async () => {
    const child = spawn(process.execPath, [join(__dirname, 'fixtures/peer.mjs'), 'read-fd', '3'], {
      stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    const fd3 = child.stdio[3] as Socket;
    const c = new SocketConsumer(fd3);
    for (let i = 1; i <= 100; i++) await c.push(tensor('int32', [2], [i, 0]));
    await c.close();
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await exited;
    expect(out.trim()).toBe(`100 ${(100 * 101) / 2}`);
  }, 30_000);
});

describe('faults', () => {
  it('a peer that closes between records ends the stream cleanly', async () => {
    const server = await listen();
    const accepting = server.acceptProducer();
    const raw = await rawClient(server.port!);
    const p = await accepting;
    raw.end(encodeTensor(tensor('uint8', [2], [1, 2]), { lengthPrefix: true }));
    expect(Array.from((await p.next())!.data as Uint8Array)).toEqual([1, 2]);
    expect(await p.next()).toBeUndefined();
  });

  it('a peer that goes away mid-record: ERR_CONNECTION_LOST (FIN or reset)', async () => {
    for (const how of ['end', 'reset'] as const) {
      const server = await listen();
      const accepting = server.acceptProducer();
      const raw = await rawClient(server.port!);
      const p = await accepting;
      raw.write(encodeTensor(tensor('uint8', [100]), { lengthPrefix: true }).subarray(0, 50));
      await sleep(20);
      if (how === 'end') raw.end();
      else raw.resetAndDestroy();
      expect([how, (await errorOf(p.next()))?.code]).toEqual([how, 'ERR_CONNECTION_LOST']);
    }
  });

  it('a length prefix over maxMessageBytes: ERR_TOO_LARGE without allocating it, and the connection is closed', async () => {
    const server = await listen({ maxMessageBytes: 1024 * 1024 });
    const accepting = server.acceptProducer();
    const raw = await rawClient(server.port!);
    const closed = new Promise((r) => raw.once('close', r));
    raw.on('error', () => undefined);
    const p = await accepting;
    const before = process.memoryUsage().arrayBuffers;
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(300_000_000);
    raw.write(prefix);
    const err = await errorOf(p.next());
    expect(err?.code).toBe('ERR_TOO_LARGE');
    expect(err?.message).toContain('maxMessageBytes');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
    await closed; // we hung up on the bad peer
  });

  it('a header declaring 200 MiB, then a trickle: the client allocates as bytes arrive, not the declared size', async () => {
    const declared = 200_000_000;
    let peer!: Socket;
    const server = createServer((s) => (peer = s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const p = new TcpProducer('127.0.0.1', (server.address() as { port: number }).port);
    await p.connected;
    while (peer === undefined) await sleep(5);
    const before = process.memoryUsage().arrayBuffers;
    const head = Buffer.alloc(17);
    head.writeUInt32LE(13 + declared, 0); // length prefix
    head.writeUInt8(0, 4); // float32
    head.writeUInt32LE(1, 5); // ndim
    head.writeUInt32LE(declared / 4, 9); // dim
    head.writeUInt32LE(declared, 13); // byteLength
    const pending = errorOf(p.next());
    peer.write(head);
    // 200 tiny writes (more than the decoder keeps as separate chunks), then a 2 MiB burst.
    for (let i = 0; i < 200; i++) {
      peer.write(Buffer.from([i]));
      await sleep(1);
    }
    peer.write(Buffer.alloc(2 * 1024 * 1024));
    await sleep(200);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
    peer.destroy();
    expect((await pending)?.code).toBe('ERR_CONNECTION_LOST');
    server.close();
  });

  it('a push to a dead peer rejects ERR_CONNECTION_LOST, never resolving silently for long', async () => {
    const server = await listen();
    const accepting = server.accept();
    const c = new TcpConsumer('127.0.0.1', server.port!);
    await c.connected;
    (await accepting).socket.resetAndDestroy();
    let code: string | undefined;
    for (let i = 0; i < 200 && code === undefined; i++) {
      const r = await errorOf(c.push(tensor('uint8', [64 * 1024])));
      code = r?.code;
      await sleep(5);
    }
    expect(code).toBe('ERR_CONNECTION_LOST');
    expect((await errorOf(c.push(tensor('uint8', [1]))))?.code).toBe('ERR_CONNECTION_LOST');
  });

  it('a refused connection rejects ERR_CONNECT naming the address', async () => {
    const server = await listen();
    const port = server.port!;
    await server.close();
    const p = new TcpProducer('127.0.0.1', port);
    const err = await errorOf(p.next());
    expect(err?.code).toBe('ERR_CONNECT');
    expect(err?.message).toContain(`127.0.0.1:${port}`);
    const c = new TcpConsumer('127.0.0.1', port);
    expect((await errorOf(c.push(tensor('uint8', [1]))))?.code).toBe('ERR_CONNECT');
    await c.close(); // releasing a failed client does not throw
    const u = new UnixProducer(join(tmpdir(), 'harmonics-no-such.sock'));
    expect((await errorOf(u.next()))?.code).toBe('ERR_CONNECT');
  });

  it('connectTimeoutMs bounds a connection that never completes', async () => {
    // A plain TCP server that never answers the TLS handshake.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const p = new TcpProducer('127.0.0.1', port, { tls: { ca: TLS_CERT }, connectTimeoutMs: 200 });
    const t0 = Date.now();
    const err = await errorOf(p.next());
    expect(err?.code).toBe('ERR_CONNECT');
    expect(err?.message).toContain('timed out');
    expect(Date.now() - t0).toBeLessThan(5000);
    silent.close();
  });

  it('a TLS server whose certificate the client does not trust: ERR_HANDSHAKE', async () => {
    const server = await listen({ tls: { key: TLS_KEY, cert: TLS_CERT } });
    const p = new TcpProducer('127.0.0.1', server.port!, { tls: {} });
    expect((await errorOf(p.next()))?.code).toBe('ERR_HANDSHAKE');
  });

  it('timeoutMs: a next() that waits too long rejects ERR_TIMEOUT and the connection stays usable', async () => {
    const server = await listen({ timeoutMs: 100 });
    const accepting = server.acceptProducer();
    const c = new TcpConsumer('127.0.0.1', server.port!);
    const p = await accepting;
    expect((await errorOf(p.next()))?.code).toBe('ERR_TIMEOUT');
    await c.push(tensor('int8', [1], [5]));
    expect((await p.next())?.data[0]).toBe(5);
    await c.close();
  });
});

describe('SocketServer', () => {
  it('hands out connections by async iteration, as producers or consumers', async () => {
    const server = await listen();
    const clients = [new TcpProducer('127.0.0.1', server.port!), new TcpProducer('127.0.0.1', server.port!)];
    let k = 0;
    for await (const conn of server) {
      const c = conn.consumer();
      await c.push(tensor('int32', [1], [k]));
      await c.close();
      if (++k === 2) break;
    }
    const values = await Promise.all(clients.map(async (p) => (await p.next())?.data[0]));
    expect(values.sort()).toEqual([0, 1]);
  });

  it('close() rejects waiting accepts with ERR_CLOSED and leaves handed-out connections open unless asked', async () => {
    const server = await SocketServer.listen();
    const accepting = server.accept();
    const c = new TcpConsumer('127.0.0.1', server.port!);
    const producer = (await accepting).producer();
    const waiting = server.accept();
    await server.close();
    expect((await errorOf(waiting))?.code).toBe('ERR_CLOSED');
    await c.push(tensor('uint8', [1], [3]));
    expect((await producer.next())?.data[0]).toBe(3); // still open
    await server.close({ closeConnections: true });
    expect((await errorOf(producer.next()))?.code).toMatch(/ERR_CONNECTION_LOST|ERR_CLOSED/);
    await c.close().catch(() => undefined);
  });

  it('replaces a stale Unix socket file but refuses an address in use (ERR_CONNECT)', async () => {
    const path = join(tmpdir(), `harmonics-stale-${process.pid}.sock`);
    writeFileSync(path, '');
    const server = await listen({ path });
    expect(server.path).toBe(path);
    const err = await errorOf(SocketServer.listen({ port: (await listen()).port! }));
    expect(err?.code).toBe('ERR_CONNECT');
    expect(err?.message).toContain('in use');
  });
});

describe('client producers read large records straight into the tensor (onread)', () => {
  it('moves tensors of every size class in order, bit-exact, with an oversized frame refused afterwards', async () => {
    const server = await listen({ maxMessageBytes: 64 * 1024 * 1024 });
    const p = new TcpProducer('127.0.0.1', server.port!, { maxMessageBytes: 32 * 1024 * 1024 });
    const c = await server.acceptConsumer();
    const sent = [
      sampleTensor('float32', [4 * 1024 * 1024], 1), // 16 MiB: many direct reads
      sampleTensor('uint8', [3]),
      sampleTensor('int64', [64 * 1024 + 1], 2), // just over the direct threshold, odd size
      ...Array.from({ length: 50 }, (_, i) => sampleTensor('float16', [i * 97], i)),
      sampleTensor('float64', [1024 * 1024], 3),
    ];
    const writing = (async () => {
      for (const t of sent) await c.push(t);
      await c.push(tensor('uint8', [40 * 1024 * 1024])); // over the reader's limit
    })();
    for (const t of sent) expectSameTensor(await p.next(), t);
    expect((await errorOf(p.next()))?.code).toBe('ERR_TOO_LARGE');
    await writing.catch(() => undefined);
  }, 60_000);
});

describe('SocketProducer/SocketConsumer over any duplex', () => {
  it('moves a large tensor and small ones in order over an accepted socket pair', async () => {
    const server = await listen();
    const accepting = server.accept();
    const client = await rawClient(server.port!);
    const conn = await accepting;
    const c = new SocketConsumer(client);
    const p = conn.producer();
    const sent = [sampleTensor('float64', [512, 1024], 1), ...Array.from({ length: 100 }, (_, i) => sampleTensor('uint16', [i], i))];
    const writing = (async () => {
      for (const t of sent) await c.push(t);
      await c.close();
    })();
    for (const t of sent) expectSameTensor(await p.next(), t);
    expect(await p.next()).toBeUndefined();
    await writing;
  });
});

describe('backpressure', () => {
  it('a TCP peer that stops reading stops push() at the high-water mark (socket buffer bounded); all 20,000 arrive in order once it reads', async () => {
    let peer!: Socket;
    const accepted = new Promise<void>((resolve) =>
      createServer((s) => {
        peer = s;
        s.pause(); // reads nothing
        resolve();
      }).listen(0, '127.0.0.1', function (this: ReturnType<typeof createServer>) {
        listening(this);
      }),
    );
    let listening!: (s: ReturnType<typeof createServer>) => void;
    const server = await new Promise<ReturnType<typeof createServer>>((r) => (listening = r));
    const sock = connect((server.address() as { port: number }).port, '127.0.0.1');
    await accepted;
    const hwm = 1024 * 1024;
    const c = new SocketConsumer(sock); // default highWaterMark: 1 MiB
    const n = 20_000;
    let resolved = 0;
    const writer = (async () => {
      for (let i = 0; i < n; i++) {
        await c.push(tensor('int32', [256], new Int32Array(256).fill(i)));
        resolved++;
        if (i % 8 === 7) await new Promise((r) => setImmediate(r)); // the event loop turns between tensors
      }
      await c.close();
    })();
    let last = -1;
    while (resolved !== last) {
      last = resolved;
      await sleep(200);
    }
    expect(resolved).toBeLessThan(n);
    expect(sock.writableLength).toBeLessThanOrEqual(hwm + 64 * 1024); // Node's own buffer: the mark plus one batch
    // The peer reads again: every tensor arrives, in order.
    const chunks: Buffer[] = [];
    peer.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise((r) => peer.on('end', r));
    peer.resume();
    await writer;
    await ended;
    const all = Buffer.concat(chunks);
    const record = 4 + 1 + 4 + 4 + 4 + 1024; // length prefix, dtype, ndim, one dim, byteLength, data
    expect(all.length).toBe(n * record);
    for (let i = 0; i < n; i++) expect(all.readInt32LE(i * record + record - 4)).toBe(i);
    peer.destroy();
    server.close();
  });
});

/** The timer the kernel runs for the TCP connection from local port `port` (Linux /proc/net/tcp: 0 none, 1 retransmit, 2 keepalive). */
function tcpTimer(localPort: number): number | undefined {
  const hex = localPort.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 5 && f[1].endsWith(`:${hex}`) && f[3] === '01') return Number.parseInt(f[5].split(':')[0], 16);
  }
  return undefined;
}

describe('dead peers: keepalive and idleTimeoutMs', () => {
  it('TCP keepalive is on by default on client and accepted sockets, and off with keepAliveMs: 0', async () => {
    const server = await listen();
    const client = new TcpConsumer('127.0.0.1', server.port!);
    await client.connected;
    const incoming = await server.acceptProducer();
    const off = new TcpProducer('127.0.0.1', server.port!, { keepAliveMs: 0 });
    await off.connected;
    try {
      const clientPort = (client.socket as Socket).localPort!;
      const acceptedPort = (incoming.socket as Socket).localPort!;
      const remotePortOfAccepted = (incoming.socket as Socket).remotePort!;
      expect(remotePortOfAccepted).toBe(clientPort);
      expect(tcpTimer(clientPort)).toBe(2);
      // The accepted socket shares the server's local port with others; find it by the client's port as its remote end.
      const hexClient = clientPort.toString(16).toUpperCase().padStart(4, '0');
      const hexServer = acceptedPort.toString(16).toUpperCase().padStart(4, '0');
      const accepted = readFileSync('/proc/net/tcp', 'utf8')
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .find((f) => f[1]?.endsWith(`:${hexServer}`) && f[2]?.endsWith(`:${hexClient}`));
      expect(Number.parseInt(accepted![5].split(':')[0], 16)).toBe(2);
      expect(tcpTimer((off.socket as Socket).localPort!)).toBe(0);
    } finally {
      await client.close();
      await incoming.close();
      await off.close();
    }
  });

  it('with idleTimeoutMs, a writer that goes silent without closing makes next() reject ERR_CONNECTION_LOST; what came before is kept', async () => {
    const server = await listen();
    const proxy = await FreezableProxy.start(server.port!);
    const producer = new TcpProducer('127.0.0.1', proxy.port, { idleTimeoutMs: 400 });
    await producer.connected;
    const writer = await server.acceptConsumer();
    try {
      await writer.push(tensor('int32', [2], [1, 2]));
      expectSameTensor(await producer.next(), tensor('int32', [2], [1, 2]));
      proxy.freeze();
      const started = Date.now();
      const err = await errorOf(producer.next());
      expect([err?.code, Date.now() - started < 3000]).toEqual(['ERR_CONNECTION_LOST', true]);
      expect(err?.message).toMatch(/idleTimeoutMs/);
    } finally {
      await producer.close();
      writer.socket.destroy();
      await proxy.close();
    }
  });

  it('with idleTimeoutMs, push() to a reader that stopped rejects once the high-water mark is reached and the limit passes; an idle writer is kept', async () => {
    const server = await listen();
    const proxy = await FreezableProxy.start(server.port!);
    const consumer = new TcpConsumer('127.0.0.1', proxy.port, { idleTimeoutMs: 400, highWaterMark: 64 * 1024 });
    await consumer.connected;
    const reader = await server.acceptProducer();
    try {
      await consumer.push(tensor('int32', [1], [1]));
      expectSameTensor(await reader.next(), tensor('int32', [1], [1]));
      await sleep(800); // nothing to send: idle, not stalled
      await consumer.push(tensor('int32', [1], [2]));
      expectSameTensor(await reader.next(), tensor('int32', [1], [2]));
      proxy.freeze();
      const big = tensor('uint8', [1024 * 1024]);
      const started = Date.now();
      let err: Awaited<ReturnType<typeof errorOf>>;
      for (let i = 0; i < 64 && err === undefined; i++) err = await errorOf(consumer.push(big));
      expect([err?.code, Date.now() - started < 10_000]).toEqual(['ERR_CONNECTION_LOST', true]);
    } finally {
      await consumer.close().catch(() => undefined);
      await reader.close();
      await proxy.close();
    }
  });

  it('bad liveness options are ERR_INVALID_ARGUMENT', () => {
    expect(() => new TcpProducer('127.0.0.1', 9, { idleTimeoutMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new TcpConsumer('127.0.0.1', 9, { keepAliveMs: Number.NaN })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('TLS mismatches are errors, never a clean end', () => {
  it('a plaintext client to a TLS server: push() or close() rejects ERR_CONNECTION_LOST, naming TLS', async () => {
    const server = await listen({ tls: { key: TLS_KEY, cert: TLS_CERT } });
    const c = new TcpConsumer('127.0.0.1', server.port!);
    const pushed = await errorOf(c.push(tensor('int32', [1], [1])));
    const closed = await errorOf(c.close());
    const err = pushed ?? closed;
    expect(err?.code).toBe('ERR_CONNECTION_LOST');
    expect(err?.message).toMatch(/connect with \{ tls \}/);
  });

  it('a TLS client without a certificate to an mTLS server: ERR_HANDSHAKE asking for one', async () => {
    const server = await listen({ tls: { key: TLS_KEY, cert: TLS_CERT, ca: TLS_CERT, requestCert: true, rejectUnauthorized: true } });
    const c = new TcpConsumer('127.0.0.1', server.port!, { tls: { ca: TLS_CERT, servername: 'localhost' } });
    const pushed = await errorOf(c.push(tensor('int32', [1], [1])));
    const closed = await errorOf(c.close());
    const err = pushed ?? closed;
    expect(err?.code).toBe('ERR_HANDSHAKE');
    expect(err?.message).toMatch(/client certificate/);
  });

  it('a plaintext producer to a TLS server is reset after its handshakeTimeout: ERR_CONNECTION_LOST, not an empty stream', async () => {
    const server = await listen({ tls: { key: TLS_KEY, cert: TLS_CERT, handshakeTimeout: 500 } });
    const p = new TcpProducer('127.0.0.1', server.port!);
    try {
      expect((await errorOf(p.next()))?.code).toBe('ERR_CONNECTION_LOST');
    } finally {
      await p.close();
    }
  });

  it('a writer to something that talks back (not a tensor reader) gets ERR_PROTOCOL', async () => {
    const chatty = createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => chatty.listen(0, '127.0.0.1', r));
    const c = new TcpConsumer('127.0.0.1', (chatty.address() as { port: number }).port);
    try {
      await c.push(tensor('int32', [1], [1])).catch(() => undefined);
      expect((await errorOf(c.close()))?.code).toBe('ERR_PROTOCOL');
    } finally {
      chatty.close();
    }
  });

  it('close() waits for a Harmonics reader to close its end, and resolves after closeTimeoutMs against one that keeps it open', async () => {
    const server = await listen();
    const c = new TcpConsumer('127.0.0.1', server.port!, { closeTimeoutMs: 300 });
    await c.connected;
    const accepted = await server.accept();
    accepted.socket.pause(); // reads nothing, keeps its end open
    await c.push(tensor('int32', [1], [1]));
    const started = Date.now();
    await c.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});

describe('SocketServer.close', () => {
  it('close({ timeoutMs }) lets handed-out connections finish, then drops them; await using closes the server', async () => {
    let port: number;
    {
      await using server = await SocketServer.listen();
      port = server.port!;
      const c = new TcpConsumer('127.0.0.1', port, { closeTimeoutMs: 0 });
      await c.connected;
      const reader = await server.acceptProducer();
      await c.push(tensor('int32', [1], [1]));
      const closing = server.close({ timeoutMs: 300 });
      expectSameTensor(await reader.next(), tensor('int32', [1], [1])); // still served during the grace period
      const started = Date.now();
      await closing;
      expect(Date.now() - started).toBeLessThan(2000);
      expect((await errorOf(reader.next()))?.code).toBe('ERR_CONNECTION_LOST'); // dropped after it
      await c.close().catch(() => undefined);
    }
    expect((await errorOf(new TcpProducer('127.0.0.1', port).next()))?.code).toBe('ERR_CONNECT');
    const other = await SocketServer.listen();
    expect((await errorOf(other.close({ timeoutMs: -1 })))?.code).toBe('ERR_INVALID_ARGUMENT');
    await other.close();
  });
});

describe('SocketServer limits', () => {
  it('beyond maxConnections a client is reset (ERR_CONNECTION_LOST, never an empty stream); others stay served', async () => {
    const server = await listen({ maxConnections: 2 });
    const a = new TcpConsumer('127.0.0.1', server.port!);
    const b = new TcpConsumer('127.0.0.1', server.port!);
    await Promise.all([a.connected, b.connected]);
    await sleep(100);
    const third = new TcpProducer('127.0.0.1', server.port!);
    try {
      // Reset while connecting (ERR_CONNECT) or just after (ERR_CONNECTION_LOST), depending on timing; never an empty stream.
      const err = await errorOf(third.next());
      expect(['ERR_CONNECT', 'ERR_CONNECTION_LOST']).toContain(err?.code);
      expect(err?.message).toMatch(/ECONNRESET.*connection limit|ECONNRESET/);
      const reader = await server.acceptProducer();
      await a.push(tensor('int32', [1], [1]));
      expectSameTensor(await reader.next(), tensor('int32', [1], [1]));
    } finally {
      await third.close();
      await a.close().catch(() => undefined);
      await b.close().catch(() => undefined);
    }
  });

  it('beyond maxPending a client is reset too, on TLS servers as well', async () => {
    const server = await listen({ maxPending: 1, tls: { key: TLS_KEY, cert: TLS_CERT } });
    const first = new TcpProducer('127.0.0.1', server.port!, { tls: { ca: TLS_CERT, servername: 'localhost' } });
    await first.connected;
    await sleep(100);
    const second = new TcpProducer('127.0.0.1', server.port!, { tls: { ca: TLS_CERT, servername: 'localhost' } });
    try {
      expect(['ERR_CONNECT', 'ERR_CONNECTION_LOST']).toContain((await errorOf(second.next()))?.code);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
