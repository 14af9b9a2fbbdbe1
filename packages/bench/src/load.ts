// npm run load-test: each server keeps a legitimate client served while hostile
// ones are attached. What it does and prints: packages/bench/README.md (Load test).
import { spawn } from 'node:child_process';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { MessageBus } from '@harmonics/bus';
import { type Consumer, type Producer, type Tensor, tensor } from '@harmonics/core';
import { FlightConsumer, FlightProducer, TensorFlightServer } from '@harmonics/transport-flight';
import { GrpcConsumer, GrpcProducer, GrpcServer } from '@harmonics/transport-grpc';
import { SocketServer, TcpConsumer, TcpProducer } from '@harmonics/transport-net';
import { WebSocketConsumer, WebSocketProducer, WebSocketServer } from '@harmonics/transport-ws';

const LEGIT_ELEMENTS = 16 * 1024; // 64 KiB of int32: element 0 is the sequence number, 1 the send time
const JUNK_BYTES = 256 * 1024;
const MAX_CONNECTIONS = 1500; // raised from 1024 so that 1,200 attackers and the legitimate pair fit

/** The legitimate pair uses one lane; slow writers and stalled readers the other, which the server also feeds with junk itself. */
type Lane = 'legit' | 'attack';

interface Running {
  port: (lane: Lane, role: 'write' | 'read') => number;
  close(): Promise<void>;
  /** What the server did to attackers, as counts. */
  stats(): Record<string, number>;
}

interface Target {
  name: string;
  start(): Promise<Running>;
  writer(port: number, lane: Lane): Consumer;
  reader(port: number, lane: Lane): Producer;
}

const junk = (): Tensor => tensor('uint8', [JUNK_BYTES], new Uint8Array(JUNK_BYTES));

/** Push junk into `into` until it fails (the server closed). */
function feed(into: Consumer): void {
  void (async () => {
    for (;;) await into.push(junk());
  })().catch(() => undefined);
}

type Accepted<T> = AsyncIterable<T>;

/** The application of a server that hands out connections (ws, net): writers feed a bus, readers drain it. */
function serveThroughBus(writers: Accepted<{ producer(): Producer }>, readers: Accepted<{ consumer(): Consumer }>): MessageBus {
  const bus = new MessageBus({ capacity: 64, endWithLastConsumer: false });
  void (async () => {
    for await (const c of writers) {
      const p = c.producer();
      const into = bus.consumer();
      void (async () => {
        for (let t = await p.next(); t !== undefined; t = await p.next()) await into.push(t);
      })().catch(() => p.close().catch(() => undefined));
    }
  })().catch(() => undefined);
  void (async () => {
    for await (const c of readers) {
      const out = c.consumer();
      const from = bus.producer();
      void (async () => {
        for (let t = await from.next(); t !== undefined; t = await from.next()) await out.push(t);
      })().catch(() => out.close().catch(() => undefined));
    }
  })().catch(() => undefined);
  return bus;
}

/** The connections a server hands out, sorted by `key` into queues that can be iterated. */
class Sorter<T> {
  private readonly queues = new Map<string, T[]>();
  private readonly wake: (() => void)[] = [];
  add(key: string, item: T): void {
    const q = this.queues.get(key) ?? [];
    q.push(item);
    this.queues.set(key, q);
    for (const w of this.wake.splice(0)) w();
  }
  async *of(key: string): AsyncIterable<T> {
    for (;;) {
      const q = this.queues.get(key);
      while (q !== undefined && q.length > 0) yield q.shift()!;
      await new Promise<void>((r) => this.wake.push(r));
    }
  }
}

interface ListenerStats {
  refused: number;
  silentClosed: number;
  connections: number;
}

const targets: Target[] = [
  {
    name: 'net (SocketServer, tcp)',
    async start() {
      const servers = new Map<string, SocketServer>();
      for (const lane of ['legit', 'attack'] as const) {
        const ingest = await SocketServer.listen({ maxConnections: MAX_CONNECTIONS });
        const egress = await SocketServer.listen({ maxConnections: MAX_CONNECTIONS });
        const bus = serveThroughBus(ingest, egress);
        if (lane === 'attack') feed(bus.consumer());
        servers.set(`${lane}:write`, ingest).set(`${lane}:read`, egress);
      }
      return {
        port: (lane, role) => servers.get(`${lane}:${role}`)!.port!,
        close: async () => {
          for (const s of servers.values()) await s.close({ timeoutMs: 0 });
        },
        stats: () => ({ connections: [...servers.values()].reduce((n, s) => n + s.connections, 0) }),
      };
    },
    writer: (port) => new TcpConsumer('127.0.0.1', port),
    reader: (port) => new TcpProducer('127.0.0.1', port),
  },
  {
    // GrpcServer is one queue, and each tensor goes to one reader: a reader
    // that takes tensors and never reads them takes them from everyone. The
    // attack lane is a second GrpcServer in the same process.
    name: 'grpc (GrpcServer)',
    async start() {
      const legit = await GrpcServer.listen({ maxConnections: MAX_CONNECTIONS, endWithLastWriter: false });
      const attack = await GrpcServer.listen({ maxConnections: MAX_CONNECTIONS, endWithLastWriter: false });
      feed(attack.consumer());
      const listener = (s: GrpcServer): ListenerStats => (s as unknown as { listener: ListenerStats }).listener;
      return {
        port: (lane) => (lane === 'legit' ? legit : attack).port,
        close: async () => {
          await legit.close({ timeoutMs: 0 });
          await attack.close({ timeoutMs: 0 });
        },
        stats: () => {
          const [a, b] = [listener(legit), listener(attack)];
          return { connections: a.connections + b.connections, 'silent closed': a.silentClosed + b.silentClosed, refused: a.refused + b.refused };
        },
      };
    },
    writer: (port) => new GrpcConsumer('127.0.0.1', port),
    reader: (port) => new GrpcProducer('127.0.0.1', port),
  },
  {
    name: 'ws (WebSocketServer)',
    async start() {
      const server = await WebSocketServer.listen({ maxConnections: MAX_CONNECTIONS });
      const sorter = new Sorter<{ producer(): Producer; consumer(): Consumer }>();
      void (async () => {
        for await (const c of server) sorter.add(c.request.url ?? '/', c);
      })().catch(() => undefined);
      serveThroughBus(sorter.of('/legit/write'), sorter.of('/legit/read'));
      feed(serveThroughBus(sorter.of('/attack/write'), sorter.of('/attack/read')).consumer());
      return {
        port: () => server.port,
        close: () => server.close({ timeoutMs: 0 }),
        stats: () => ({ connections: server.connections }),
      };
    },
    writer: (port, lane) => new WebSocketConsumer(`ws://127.0.0.1:${port}/${lane}/write`),
    reader: (port, lane) => new WebSocketProducer(`ws://127.0.0.1:${port}/${lane}/read`),
  },
  {
    name: 'flight (TensorFlightServer)',
    async start() {
      const server = await TensorFlightServer.listen({ maxConnections: MAX_CONNECTIONS });
      const listener = (server as unknown as { listening: { listener: ListenerStats } }).listening.listener;
      void (async () => {
        for (;;) await server.putTensor(junk(), { stream: 'attack' });
      })().catch(() => undefined);
      return {
        port: () => server.port!,
        close: () => server.close({ timeoutMs: 0 }),
        stats: () => ({ connections: listener.connections, 'silent closed': listener.silentClosed, refused: listener.refused }),
      };
    },
    writer: (port, lane) => new FlightConsumer('127.0.0.1', port, { stream: lane }),
    reader: (port, lane) => new FlightProducer('127.0.0.1', port, { stream: lane }),
  },
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

interface Trip {
  sent: number;
  received: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** The legitimate pair: write tagged tensors for `seconds`, read until the last comes or 5 s pass; tensors of others are skipped. */
async function legitimate(writer: Consumer, reader: Producer, seconds: number): Promise<Trip> {
  const latencies: number[] = [];
  let sent = 0;
  let last = -1;
  const started = performance.now();
  const reading = (async () => {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const t = await Promise.race([reader.next(), new Promise<null>((r) => (timer = setTimeout(() => r(null), 5000)))]);
      clearTimeout(timer); // a pending timer would keep the race's result, the tensor, alive
      if (t === null || t === undefined) return;
      if (t.dtype !== 'int32' || t.data.length !== LEGIT_ELEMENTS) continue; // an attacker's
      const v = t.data as Int32Array;
      latencies.push(performance.now() - started - v[1] / 1000);
      last = v[0];
      if (last === -2) return;
    }
  })();
  const values = new Int32Array(LEGIT_ELEMENTS);
  while (performance.now() - started < seconds * 1000) {
    values[0] = sent++;
    values[1] = Math.round((performance.now() - started) * 1000);
    await writer.push(tensor('int32', [LEGIT_ELEMENTS], values.slice()));
  }
  values[0] = -2;
  values[1] = Math.round((performance.now() - started) * 1000);
  await writer.push(tensor('int32', [LEGIT_ELEMENTS], values.slice()));
  await reading;
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { sent, received: Math.max(0, latencies.length - 1), perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) };
}

// ---- the attacking process ---------------------------------------------------------

/** A relay to `port` that forwards client → server at `bytesPerSecond`, server → client freely. */
async function throttledRelay(port: number, bytesPerSecond: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) s.on('error', () => s.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    const tick = 100;
    let pending: Buffer[] = [];
    client.on('data', (b: Buffer) => {
      pending.push(b);
      client.pause();
    });
    const timer = setInterval(() => {
      let budget = (bytesPerSecond * tick) / 1000;
      const next: Buffer[] = [];
      for (const b of pending) {
        if (budget <= 0) next.push(b);
        else if (b.length <= budget) {
          upstream.write(b);
          budget -= b.length;
        } else {
          upstream.write(b.subarray(0, budget));
          next.push(b.subarray(budget));
          budget = 0;
        }
      }
      pending = next;
      if (pending.length === 0) client.resume();
    }, tick);
    client.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/** A relay to `port` that forwards both ways for `ms`, then nothing, closing nothing. */
async function freezingRelay(port: number, ms: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) s.on('error', () => s.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    setTimeout(() => {
      for (const s of [client, upstream]) {
        s.unpipe();
        s.pause();
      }
    }, ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

async function attack(
  targetName: string,
  idlePort: number,
  writePort: number,
  readPort: number,
  idle: number,
  slow: number,
  stalled: number,
): Promise<void> {
  const target = targets.find((t) => t.name === targetName)!;
  let reopened = 0;
  const openIdle = (): void => {
    const s: Socket = connect(idlePort, '127.0.0.1');
    s.on('error', () => undefined);
    s.resume();
    s.on('close', () => {
      reopened++;
      setTimeout(openIdle, 100);
    });
  };
  for (let i = 0; i < idle; i++) {
    openIdle();
    if (i % 100 === 99) await sleep(20);
  }
  const throttle = await throttledRelay(writePort, 8 * 1024);
  const throttlePort = (throttle.address() as { port: number }).port;
  for (let i = 0; i < slow; i++) feed(target.writer(throttlePort, 'attack'));
  const freezer = await freezingRelay(readPort, 1000);
  const freezePort = (freezer.address() as { port: number }).port;
  for (let i = 0; i < stalled; i++) {
    const r = target.reader(freezePort, 'attack');
    void r.next().catch(() => undefined);
  }
  await sleep(3000); // every stalled reader has connected, taken what it could and frozen
  process.stdout.write('ready\n');
  setInterval(() => process.stdout.write(`reopened ${reopened}\n`), 1000);
}

// ---- the driver ------------------------------------------------------------------------

/** Memory the server process holds after a full GC (node --expose-gc), and its RSS. */
function retained(): { held: number; rss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { held: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

async function main(): Promise<void> {
  if (process.argv[2] === 'attack') {
    const [, , , name, i, w, r, idle, slow, stalled] = process.argv;
    await attack(name, Number(i), Number(w), Number(r), Number(idle), Number(slow), Number(stalled));
    return;
  }
  const onlyArg = process.argv.indexOf('--only');
  const only = onlyArg >= 0 ? process.argv[onlyArg + 1].split(',') : undefined;
  const idle = arg('--idle', 1000);
  const slow = arg('--slow', 100);
  const stalled = arg('--stalled', 100);
  const seconds = arg('--seconds', 12);
  if (!process.argv.includes('--quiet'))
    console.log(
      `Harmonics load test — node ${process.version}; legitimate pair: 64 KiB tensors for ${seconds} s; attackers: ${idle} idle connections, ${slow} slow writers (8 KiB/s each), ${stalled} stalled readers; maxConnections ${MAX_CONNECTIONS}`,
    );
  const chosen = targets.filter((t) => only === undefined || only.some((o) => t.name.startsWith(o)));
  if (chosen.length > 1) {
    // One process per server, so that no figure carries another's leftovers.
    const rest = process.argv.slice(2).filter((a, i, all) => a !== '--only' && all[i - 1] !== '--only');
    for (const target of chosen) {
      const child = spawn(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), '--quiet', '--only', target.name.split(' ')[0], ...rest],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      child.stdout.pipe(process.stdout, { end: false });
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      if (code !== 0) throw new Error(`the run for ${target.name} exited with ${code}`);
    }
    return;
  }
  for (const target of chosen) {
    const running = await target.start();
    const writer = target.writer(running.port('legit', 'write'), 'legit');
    const reader = target.reader(running.port('legit', 'read'), 'legit');
    const before = retained();
    const alone = await legitimate(writer, reader, seconds);
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(import.meta.url),
        'attack',
        target.name,
        ...[running.port('legit', 'write'), running.port('attack', 'write'), running.port('attack', 'read'), idle, slow, stalled].map(String),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let reopened = 0;
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (s: string) => {
        if (s.includes('ready')) resolve();
        const m = /reopened (\d+)/.exec(s);
        if (m) reopened = Number(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`the attacking process exited with ${code}`)));
    });
    const statsUnder = running.stats();
    const attached = retained();
    const loaded = await legitimate(writer, reader, seconds);
    const under = retained();
    const statsAfter = running.stats();
    child.kill('SIGKILL');
    await writer.close().catch(() => undefined);
    await reader.close().catch(() => undefined);
    await running.close();
    await sleep(500);
    const closed = retained();
    const mb = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
    const trip = (t: Trip): string =>
      `${t.received}/${t.sent} delivered, ${t.perSecond.toFixed(0)} tensors/s, trip p50 ${t.p50.toFixed(1)} ms, p99 ${t.p99.toFixed(1)} ms`;
    console.log(`\n${target.name}`);
    console.log(`  alone:       ${trip(alone)}`);
    console.log(`  under load:  ${trip(loaded)}`);
    console.log(
      `  server heap + buffers after GC: ${mb(before.held)} alone, ${mb(attached.held)} once attackers attached, ${mb(under.held)} at the end of the loaded run, ${mb(closed.held)} once closed (RSS ${mb(before.rss)}, ${mb(attached.rss)}, ${mb(under.rss)})`,
    );
    console.log(
      `  server side: under load ${JSON.stringify(statsUnder)}, at the end ${JSON.stringify(statsAfter)}; idle connections reopened by the attacker: ${reopened}`,
    );
  }
}

main().then(
  () => {
    if (process.argv[2] !== 'attack') process.exit(0);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
