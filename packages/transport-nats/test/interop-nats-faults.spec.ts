// Fault tests against real nats-servers started here: stage workers SIGKILLed
// at random points, a writer killed in the middle of a chunked tensor, a
// reader that dies holding a chunked tensor, the server restarted during a
// run, and one node of a 3-node cluster killed.
import { type NatsCluster, type NatsServer, expectSameTensor, startNatsCluster, startNatsServer } from '@harmonics/conformance';
import { type Tensor, tensor } from '@harmonics/core';
import { NatsConsumer, NatsProducer } from '@harmonics/transport-nats';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { type FixtureProcess, startProcess } from './fixtures/processes';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const randomBetween = (lo: number, hi: number): number => lo + Math.random() * (hi - lo);

async function manager(servers: string[]): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers });
  return { nc, jsm: await jetstreamManager(nc) };
}

/** Stored messages of `stream` (asked again while a cluster fails over). */
async function storedCount(jsm: JetStreamManager, stream: string): Promise<number> {
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      return (await jsm.streams.info(stream)).state.messages;
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(250);
    }
  }
}

/** Create an empty stream (retried while a cluster elects its JetStream leader). */
async function createStream(jsm: JetStreamManager, name: string, subject: string, replicas = 1): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      await jsm.streams.add({ name, subjects: [subject, `${subject}.chunks`], num_replicas: replicas });
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(250);
    }
  }
}

/** Read `count` tensors of `stream` from the start, checking it holds no more; returns them. */
async function readAll(servers: string[], subject: string, stream: string, count: number, idleTimeoutMs = 20_000): Promise<Tensor[]> {
  const reader = new NatsProducer(subject, { servers, stream, idleTimeoutMs });
  try {
    const out: Tensor[] = [];
    for (let i = 0; i < count; i++) out.push((await reader.next())!);
    // Nothing more within 20 s: the idle timeout, or (when it is longer) this wait, ends the read.
    const extra = await reader.next({ signal: AbortSignal.timeout(20_000) }).then(
      (t) => ({ code: 'resolved', t }),
      (err: { code?: string }) => ({ code: err.code }),
    );
    expect(['ERR_TIMEOUT', 'ERR_ABORTED']).toContain(extra.code);
    return out;
  } finally {
    await reader.close();
  }
}

function input(i: number): Tensor {
  return tensor('float32', [4], [i, i, i, i]);
}

/** Each of 0…n−1 exactly once among `outputs` (input × 2, all four values), or what is wrong. */
function checkDoubled(outputs: Tensor[], n: number): void {
  const seen = new Map<number, number>();
  for (const t of outputs) {
    const v = t.data[0] as number;
    expect(Array.from(t.data as Float32Array)).toEqual([v, v, v, v]);
    seen.set(v / 2, (seen.get(v / 2) ?? 0) + 1);
  }
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
  const twice = [...seen].filter(([, c]) => c > 1).map(([i]) => i);
  expect({ missing, twice, outputs: outputs.length }).toEqual({ missing: [], twice: [], outputs: n });
}

function stageWorker(servers: string[], extra: Record<string, string> = {}): FixtureProcess {
  return startProcess('stage-process.ts', {
    NATS_SERVERS: servers.join(','),
    IN_SUBJECT: 'jobs',
    IN_STREAM: 'JOBS',
    DURABLE: 'doublers',
    OUT_SUBJECT: 'results',
    OUT_STREAM: 'RESULTS',
    DELAY_MS: '30',
    ACK_WAIT_MS: '1500',
    ...extra,
  });
}

describe('one server', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  beforeEach(async () => {
    server = await startNatsServer();
    ({ nc, jsm } = await manager([server.url]));
  }, 30_000);
  afterEach(async () => {
    await nc?.close();
    await server?.stop();
  });

  test('stage workers SIGKILLed at random points and replaced: exactly one output per input (runStage)', async () => {
    const n = 200;
    await createStream(jsm, 'JOBS', 'jobs');
    await createStream(jsm, 'RESULTS', 'results');
    const writer = new NatsConsumer('jobs', { servers: [server.url], stream: 'JOBS', end: false });
    for (let i = 0; i < n; i++) await writer.push(input(i));
    await writer.close();

    const workers = [stageWorker([server.url]), stageWorker([server.url]), stageWorker([server.url])];
    const all = [...workers];
    let kills = 0;
    try {
      await Promise.all(workers.map((w) => w.waitFor((l) => l.ready === true)));
      // Kill a random worker every 150–400 ms while inputs remain, and start another in its place.
      while (kills < 8 && (await storedCount(jsm, 'RESULTS')) < n * 0.8) {
        await sleep(randomBetween(150, 400));
        const victim = Math.floor(Math.random() * workers.length);
        await workers[victim]!.kill('SIGKILL');
        kills++;
        workers[victim] = stageWorker([server.url]);
        all.push(workers[victim]!);
      }
      const until = Date.now() + 60_000;
      while ((await storedCount(jsm, 'RESULTS')) < n && Date.now() < until) await sleep(200);
      const outputs = await readAll([server.url], 'results', 'RESULTS', n);
      checkDoubled(outputs, n);
      const lines = all.flatMap((w) => w.lines);
      const redelivered = lines.filter((l) => l.working !== undefined && l.redelivered === true).length;
      const duplicates = lines.filter((l) => l.answered !== undefined && l.duplicate === true).length;
      console.log(
        `runStage under ${kills} SIGKILLs: ${n} inputs, ${n} outputs stored; ${redelivered} redeliveries taken up, ${duplicates} outputs published again and de-duplicated`,
      );
      expect(kills).toBeGreaterThanOrEqual(3);
      expect(redelivered).toBeGreaterThan(0);
    } finally {
      await Promise.all(all.map((w) => w.kill('SIGKILL')));
    }
  }, 180_000);

  test('a writer SIGKILLed in the middle of a chunked tensor leaves nothing a reader would deliver', async () => {
    await createStream(jsm, 'BIG', 'big');
    const writer = startProcess('writer-process.ts', {
      NATS_SERVERS: server.url,
      SUBJECT: 'big',
      STREAM: 'BIG',
      CHUNK_BYTES: String(64 * 1024),
      BYTES: String(64 * 1024 * 1024),
    });
    try {
      await writer.waitFor((l) => l.ready === true);
      while ((await storedCount(jsm, 'BIG')) < 100) await sleep(20);
      await writer.kill('SIGKILL');
    } finally {
      await writer.kill('SIGKILL');
    }
    const orphans = await storedCount(jsm, 'BIG');
    expect(orphans).toBeGreaterThanOrEqual(100);
    expect(orphans).toBeLessThan(1024); // killed before its last chunk (1024 of 64 KiB)
    const after = tensor('int32', [3], [1, 2, 3]);
    const consumer = new NatsConsumer('big', { servers: [server.url], stream: 'BIG' });
    await consumer.push(after);
    await consumer.close();
    const reader = new NatsProducer('big', { servers: [server.url], stream: 'BIG', idleTimeoutMs: 10_000 });
    expectSameTensor(await reader.next(), after);
    expect(await reader.next()).toBeUndefined();
    await reader.close();
  }, 60_000);

  test('a reader that dies holding a chunked tensor: it is redelivered whole to another reader, once', async () => {
    await createStream(jsm, 'HELD', 'held');
    const big = tensor('float64', [3 * 1024 * 1024]); // 24 MiB: 25 chunks
    for (let i = 0; i < big.data.length; i++) (big.data as Float64Array)[i] = i * 0.5;
    const writer = new NatsConsumer('held', { servers: [server.url], stream: 'HELD' });
    await writer.push(big);
    await writer.close();

    const own = await connect({ servers: [server.url] });
    const first = new NatsProducer('held', { connection: own, stream: 'HELD', durable: 'pool', ackWaitMs: 1000 });
    expectSameTensor(await first.next(), big);
    await own.close(); // dies without asking for the next tensor: no ack
    await first.close();

    const second = new NatsProducer('held', { servers: [server.url], stream: 'HELD', durable: 'pool' });
    const again = await second.next();
    expectSameTensor(again, big);
    expect(second.delivery!.redelivered).toBe(true);
    expect(await second.next()).toBeUndefined(); // the end marker, not a second copy
    await second.close();
  }, 60_000);

  test('the server restarted (SIGKILL) during a run: clients reconnect, PubAcks resume, nothing lost, nothing duplicated', async () => {
    const n = 300;
    await createStream(jsm, 'RUN', 'run');
    const writer = new NatsConsumer('run', { servers: [server.url], stream: 'RUN' });
    const reader = new NatsProducer('run', { servers: [server.url], stream: 'RUN', durable: 'reader', ackWaitMs: 2000 });
    await nc.close();
    const got: number[] = [];
    const reading = (async () => {
      for (;;) {
        const t = await reader.next();
        if (t === undefined) return;
        got.push(t.data[0] as number);
      }
    })();
    let restarted = false;
    for (let i = 0; i < n; i++) {
      await writer.push(tensor('int32', [256], new Int32Array(256).fill(i)));
      if (i === 100) {
        await server.kill('SIGKILL');
        setTimeout(() => void server.restart().then(() => (restarted = true)), 1000);
      }
    }
    await writer.close();
    await reading;
    await reader.close();
    expect(restarted).toBe(true);
    const counts = new Map<number, number>();
    for (const v of got) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect({ distinct: counts.size, twice: [...counts].filter(([, c]) => c > 1).map(([v]) => v) }).toEqual({ distinct: n, twice: [] });
    ({ nc, jsm } = await manager([server.url]));
    expect(await storedCount(jsm, 'RUN')).toBe(n + 1); // every tensor stored once, and the end marker
    console.log(`server restart: ${n} tensors published and read once each; order kept: ${got.every((v, i) => v === i)}`);
  }, 120_000);
});

describe('a 3-node cluster', () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  }, 60_000);
  afterAll(() => cluster?.stop());

  test('the node leading the replicated (R3) streams is killed mid-run: the stream and the workers carry on, one output per input', async () => {
    const n = 300;
    const { nc, jsm } = await manager(cluster.urls);
    const workers: FixtureProcess[] = [];
    try {
      await createStream(jsm, 'JOBS', 'jobs', 3);
      await createStream(jsm, 'RESULTS', 'results', 3);
      workers.push(
        stageWorker(cluster.urls, { DELAY_MS: '5', ACK_WAIT_MS: '3000' }),
        stageWorker(cluster.urls, { DELAY_MS: '5', ACK_WAIT_MS: '3000' }),
      );
      await Promise.all(workers.map((w) => w.waitFor((l) => l.ready === true)));
      const writer = new NatsConsumer('jobs', { servers: cluster.urls, stream: 'JOBS', end: false });
      let killed = '';
      for (let i = 0; i < n; i++) {
        await writer.push(input(i));
        if (i === n / 3) {
          const leader = (await jsm.streams.info('JOBS')).cluster?.leader ?? '';
          const node = cluster.nodes.find((_, k) => `harmonics-n${k + 1}` === leader) ?? cluster.nodes[0]!;
          killed = leader;
          await node.kill('SIGKILL');
        }
      }
      await writer.close();
      const until = Date.now() + 90_000;
      while ((await storedCount(jsm, 'RESULTS')) < n && Date.now() < until) await sleep(250);
      // A cluster that lost a node may take a while to place the reader's consumer (CI once saw 20 s go by): allow 60 s.
      const outputs = await readAll(cluster.urls, 'results', 'RESULTS', n, 60_000);
      checkDoubled(outputs, n);
      let newLeader: string | undefined;
      while ((newLeader = (await jsm.streams.info('JOBS')).cluster?.leader) === undefined) await sleep(250);
      console.log(`cluster: killed ${killed} (leader of JOBS); new leader ${newLeader}; ${n} inputs, ${n} outputs, exactly once`);
      expect(newLeader).not.toBe(killed);
    } finally {
      await Promise.all(workers.map((w) => w.kill('SIGKILL')));
      await nc.close();
    }
  }, 240_000);
});
