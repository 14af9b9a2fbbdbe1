// A real nats-server (Debian's `nats-server` package; scripts/setup-peers.sh
// installs it), started by the tests themselves: JetStream on, storage in a
// temp dir, free loopback ports; a 3-node cluster with routes; a WebSocket
// listener for browsers.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The server binary: HARMONICS_NATS_SERVER, else Debian's /usr/sbin/nats-server, else `nats-server` on PATH. */
export const NATS_SERVER = process.env.HARMONICS_NATS_SERVER ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');

// Servers still running when this process exits (a test that failed before its `stop()`) go with it.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}) before listening on ${port}:\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = tcpConnect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nats-server did not listen on ${port} within ${ms} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Client port (default: a free one; a restart reuses it). */
  port?: number;
  /** Add a WebSocket listener (no TLS) on a free port. */
  websocket?: boolean;
  /** Join a cluster: this node's route port and the routes to the others. */
  cluster?: { name: string; port: number; routes: number[] };
  /** Server name (a cluster needs distinct ones). */
  name?: string;
  /** JetStream storage directory (default: a new temp dir, removed by `stop()`). */
  storeDir?: string;
  /** Run JetStream (default true). */
  jetstream?: boolean;
  /** `max_payload` in bytes (default the server's: 1 MiB). */
  maxPayload?: number;
}

/** A running nats-server. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The monitoring endpoint, `http://127.0.0.1:PORT` (`/varz`, `/jsz`, …). */
  readonly monitorUrl: string;
  /** `ws://127.0.0.1:PORT` when started with `websocket`. */
  readonly wsUrl: string | undefined;
  readonly storeDir: string;
  /** Its log so far (stderr). */
  log(): string;
  /** Kill it with `signal` (default SIGKILL: a crash) and wait for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again on the same ports and storage. */
  restart(): Promise<void>;
  /** Stop it and remove its storage if the helper made it. */
  stop(): Promise<void>;
}

/** Start a nats-server with JetStream; resolves once its client (and WebSocket) ports accept connections. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const port = options.port ?? (await freePort());
  const wsPort = options.websocket === true ? await freePort() : undefined;
  const httpPort = await freePort();
  const ownStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'harmonics-nats-'));
  const name = options.name ?? `harmonics-${port}`;
  const lines = [`server_name: "${name}"`, `host: "127.0.0.1"`, `port: ${port}`, `http: "127.0.0.1:${httpPort}"`];
  if (options.jetstream !== false) lines.push(`jetstream { store_dir: "${storeDir.replace(/\\/g, '/')}" }`);
  if (options.maxPayload !== undefined) lines.push(`max_payload: ${options.maxPayload}`);
  if (wsPort !== undefined) lines.push(`websocket { host: "127.0.0.1", port: ${wsPort}, no_tls: true }`);
  if (options.cluster !== undefined) {
    const { name: cluster, port: routePort, routes } = options.cluster;
    lines.push(
      `cluster { name: "${cluster}", host: "127.0.0.1", port: ${routePort}, routes: [${routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(', ')}] }`,
    );
  }
  const config = join(storeDir, `${name}.conf`);
  writeFileSync(config, lines.join('\n') + '\n');
  let child: ChildProcess;
  let log = '';
  const launch = async (): Promise<void> => {
    child = spawn(NATS_SERVER, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const started = child;
    running.add(started);
    started.once('exit', () => running.delete(started));
    child.on(
      'error',
      (err) => (log += `\ncannot run ${NATS_SERVER}: ${err.message} (install it: scripts/setup-peers.sh, or set HARMONICS_NATS_SERVER)`),
    );
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.length > 1e6) log = log.slice(-5e5);
    });
    await waitForPort(port, child, () => log);
    if (wsPort !== undefined) await waitForPort(wsPort, child, () => log);
  };
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorUrl: `http://127.0.0.1:${httpPort}`,
    wsUrl: wsPort !== undefined ? `ws://127.0.0.1:${wsPort}` : undefined,
    storeDir,
    log: () => log,
    kill,
    restart: launch,
    stop: async () => {
      await kill('SIGTERM');
      if (ownStore) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/** A cluster of nats-servers on loopback, each with JetStream and routes to the others. */
export interface NatsCluster {
  readonly nodes: NatsServer[];
  /** The client URLs of every node (give them all to clients as `servers`). */
  readonly urls: string[];
  stop(): Promise<void>;
}

/** Start `size` (default 3) clustered nodes and wait until JetStream has a meta leader. */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const nodes = await Promise.all(
    routePorts.map((port, i) =>
      startNatsServer({ name: `harmonics-n${i + 1}`, cluster: { name: 'harmonics', port, routes: routePorts.filter((p) => p !== port) } }),
    ),
  );
  const stop = async (): Promise<void> => void (await Promise.all(nodes.map((n) => n.stop())));
  // Clients can use JetStream once the nodes have elected a meta leader.
  const until = Date.now() + 30_000;
  for (;;) {
    const leaders = await Promise.all(
      nodes.map(async (n) => {
        try {
          const jsz = (await (await fetch(`${n.monitorUrl}/jsz`)).json()) as { meta_cluster?: { leader?: string } };
          return jsz.meta_cluster?.leader ?? '';
        } catch {
          return '';
        }
      }),
    );
    if (leaders.every((l) => l !== '' && l === leaders[0])) break;
    if (Date.now() > until) {
      await stop();
      throw new Error(`the ${size} nats-servers elected no JetStream meta leader within 30 s:\n${nodes.map((n) => n.log()).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { nodes, urls: nodes.map((n) => n.url), stop };
}
