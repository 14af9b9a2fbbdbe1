// Features and errors against a real nats-server started here: queue groups,
// work queues, replay from a sequence or a time, max_ack_pending, message-id
// de-duplication, chunking, and every error a user can meet.
import { type NatsServer, codeOf, expectSameTensor, sampleTensor, startNatsServer } from '@harmonics/conformance';
import { type Tensor, encodeTensor, tensor } from '@harmonics/core';
import { CHUNK_HEADROOM, NatsConsumer, NatsProducer } from '@harmonics/transport-nats';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const numbered = (i: number): Tensor => tensor('int32', [2], [i, -i]);

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let n = 0;
const unique = (prefix: string): string => `${prefix}${++n}`;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
}, 30_000);
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** Read until `total` tensors arrived among `readers` together; returns each reader's values. */
async function drainAmong(readers: NatsProducer[], total: number): Promise<number[][]> {
  const got: number[][] = readers.map(() => []);
  let count = 0;
  await Promise.all(
    readers.map(async (r, k) => {
      while (count < total) {
        const t = await r.next().catch((err: unknown) => {
          if ((err as { code?: string }).code === 'ERR_CLOSED') return undefined;
          throw err;
        });
        if (t === undefined) return;
        got[k]!.push(t.data[0] as number);
        if (++count === total) await Promise.all(readers.map((x) => x.close()));
      }
    }),
  );
  return got;
}

test('a queue group on a plain subject: each tensor goes to one of its three members', async () => {
  const subject = unique('queue.');
  const readers = [0, 1, 2].map(() => new NatsProducer(`${server.url}/${subject}?queue=workers`));
  await Promise.all(readers.map((r) => r.ready));
  const writer = new NatsConsumer(`${server.url}/${subject}`, { end: false });
  for (let i = 0; i < 300; i++) await writer.push(numbered(i));
  await writer.close();
  const got = await drainAmong(readers, 300);
  expect(got.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  expect(got.filter((g) => g.length > 0).length).toBeGreaterThan(1);
  console.log(`queue group of 3: ${got.map((g) => g.length).join(' / ')}`);
});

test('a durable work queue: three Producers share it, each tensor to exactly one, each reader in stream order', async () => {
  const stream = unique('WQ');
  const writer = new NatsConsumer(`${server.url}/${stream}.in?stream=${stream}&createStream&end=false`);
  for (let i = 0; i < 300; i++) await writer.push(numbered(i));
  await writer.close();
  const readers = [0, 1, 2].map(() => new NatsProducer(`${server.url}/${stream}.in?stream=${stream}&durable=pool&prefetch=2`));
  const got = await drainAmong(readers, 300);
  expect(got.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  for (const g of got) expect(g).toEqual([...g].sort((a, b) => a - b));
  expect(got.filter((g) => g.length > 0).length).toBeGreaterThan(1);
  console.log(`work queue of 3: ${got.map((g) => g.length).join(' / ')}`);
});

test('a new reader replays from a stream sequence or from a time', async () => {
  const stream = unique('REPLAY');
  const writer = new NatsConsumer(`${server.url}/${stream}.t?stream=${stream}&createStream`);
  for (let i = 0; i < 5; i++) await writer.push(numbered(i));
  await sleep(50);
  const middle = new Date();
  await sleep(50);
  for (let i = 5; i < 10; i++) await writer.push(numbered(i));
  await writer.close();
  const read = async (producer: NatsProducer): Promise<number[]> => {
    const out: number[] = [];
    for await (const t of producer) out.push(t.data[0] as number);
    return out;
  };
  expect(await read(new NatsProducer(`${server.url}/${stream}.t?stream=${stream}&startSequence=8`))).toEqual([7, 8, 9]);
  expect(await read(new NatsProducer(`${server.url}/${stream}.t?stream=${stream}&startTime=${middle.toISOString()}`))).toEqual([5, 6, 7, 8, 9]);
  expect(await read(new NatsProducer(`${server.url}/${stream}.t?stream=${stream}`))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('maxAckPending bounds what the readers of a durable hold; what a closing reader fetched ahead goes to the others at once', async () => {
  const stream = unique('PENDING');
  const writer = new NatsConsumer(`${server.url}/${stream}.t?stream=${stream}&createStream&end=false`);
  for (let i = 0; i < 10; i++) await writer.push(numbered(i));
  await writer.close();
  const url = `${server.url}/${stream}.t?stream=${stream}&durable=d&maxAckPending=4&ackWaitMs=60000`;
  const slow = new NatsProducer(url);
  expect((await slow.next())!.data[0]).toBe(0); // holds 0, and 1–3 fetched ahead: 4 pending, the limit
  await sleep(300);
  const other = new NatsProducer(url, { idleTimeoutMs: 1500 });
  expect(await codeOf(other.next())).toBe('ERR_TIMEOUT'); // nothing for it while the slow reader holds 4
  await slow.close(); // acks 0, gives back 1–3 (nak) without waiting out the 60 s ack wait
  const got: number[] = [];
  for (let i = 0; i < 9; i++) got.push((await other.next())!.data[0] as number);
  expect(got.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await other.close();
});

test('a push with a msgId already stored is de-duplicated by the stream', async () => {
  const stream = unique('DEDUP');
  const writer = new NatsConsumer(`${server.url}/${stream}.t?stream=${stream}&createStream&end=false`);
  await writer.push(numbered(1), { msgId: 'job-1' });
  expect(writer.lastAck).toMatchObject({ stream, seq: 1, duplicate: false });
  await writer.push(numbered(1), { msgId: 'job-1' });
  expect(writer.lastAck).toMatchObject({ stream, seq: 1, duplicate: true });
  await writer.push(numbered(2), { msgId: 'job-2' });
  expect(writer.lastAck).toMatchObject({ seq: 2, duplicate: false });
  await writer.close();
  expect((await jsm.streams.info(stream)).state.messages).toBe(2);
  const reader = new NatsProducer(`${server.url}/${stream}.t?stream=${stream}&idleTimeoutMs=2000`);
  await reader.next();
  expect(reader.delivery).toMatchObject({ stream, seq: 1, msgId: 'job-1', redelivered: false, deliveryCount: 1 });
  await reader.next();
  expect(reader.delivery).toMatchObject({ seq: 2, msgId: 'job-2' });
  await reader.close();
});

test('a tensor over max_payload travels as chunks of max_payload − 8 KiB and a manifest, and arrives whole', async () => {
  const stream = unique('CHUNKS');
  const big = sampleTensor('float32', [768 * 1024], 3); // 3 MiB
  const writer = new NatsConsumer(`${server.url}/${stream}.t?stream=${stream}&createStream`);
  await writer.push(big);
  await writer.close();
  const record = encodeTensor(big).length;
  const chunk = nc.info!.max_payload - CHUNK_HEADROOM;
  const chunks = Math.ceil(record / chunk);
  expect(chunks).toBe(4);
  expect((await jsm.streams.info(stream)).state.messages).toBe(chunks + 1 + 1); // the chunks, the manifest, the end marker
  const reader = new NatsProducer(`${server.url}/${stream}.t?stream=${stream}`);
  expectSameTensor(await reader.next(), big);
  expect(await reader.next()).toBeUndefined();
  await reader.close();
});

describe('errors', () => {
  test('no server there: ERR_CONNECT', async () => {
    const consumer = new NatsConsumer('nats://127.0.0.1:1/t', { connectOptions: { timeout: 2000 } });
    expect(await codeOf(consumer.push(numbered(1)))).toBe('ERR_CONNECT');
    await consumer.close();
  });

  test('a stream on a server without JetStream: ERR_PROTOCOL saying to start it with -js', async () => {
    const plain = await startNatsServer({ jetstream: false });
    try {
      const consumer = new NatsConsumer(`${plain.url}/t?stream=S&createStream`);
      const err = (await consumer.push(numbered(1)).catch((e: unknown) => e)) as Error & { code: string };
      expect(err.code).toBe('ERR_PROTOCOL');
      expect(err.message).toMatch(/-js/);
      await consumer.close();
    } finally {
      await plain.stop();
    }
  });

  test('a stream that does not exist, without createStream: ERR_CONNECT naming the option', async () => {
    const producer = new NatsProducer(`${server.url}/nowhere?stream=MISSING`);
    const err = (await producer.next().catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('ERR_CONNECT');
    expect(err.message).toMatch(/createStream/);
    await producer.close();
  });

  test('a tensor over max_payload on a plain subject: ERR_TOO_LARGE pointing at streams, and nothing lost', async () => {
    const subject = unique('big.');
    const reader = new NatsProducer(`${server.url}/${subject}`);
    await reader.ready;
    const writer = new NatsConsumer(`${server.url}/${subject}`);
    const err = (await writer.push(tensor('uint8', [2 * 1024 * 1024])).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('ERR_TOO_LARGE');
    expect(err.message).toMatch(/stream=/);
    await writer.push(numbered(7));
    await writer.close();
    expectSameTensor(await reader.next(), numbered(7));
    expect(await reader.next()).toBeUndefined();
    await reader.close();
  });

  test('idleTimeoutMs: a quiet subject rejects ERR_TIMEOUT, and the reader still works after', async () => {
    const subject = unique('quiet.');
    const reader = new NatsProducer(`${server.url}/${subject}?idleTimeoutMs=300`);
    await reader.ready;
    expect(await codeOf(reader.next())).toBe('ERR_TIMEOUT');
    const writer = new NatsConsumer(`${server.url}/${subject}`);
    await writer.push(numbered(3));
    expectSameTensor(await reader.next(), numbered(3));
    await writer.close();
    await reader.close();
  });

  test('a corrupt record in a stream rejects next() with the codec error once (terminated, not redelivered); the next tensor still arrives', async () => {
    const stream = unique('CORRUPT');
    const writer = new NatsConsumer(`${server.url}/${stream}.t?stream=${stream}&createStream`);
    await writer.push(numbered(1));
    await (await import('@nats-io/jetstream')).jetstream(nc).publish(`${stream}.t`, encodeTensor(numbered(2)).subarray(0, 10));
    await writer.push(numbered(3));
    await writer.close();
    const reader = new NatsProducer(`${server.url}/${stream}.t?stream=${stream}&durable=d&ackWaitMs=500`);
    expectSameTensor(await reader.next(), numbered(1));
    expect(await codeOf(reader.next())).toBe('ERR_TRUNCATED');
    expectSameTensor(await reader.next(), numbered(3));
    await sleep(800); // past the ack wait: a corrupt record that was not terminated would come back now
    expect(await reader.next()).toBeUndefined();
    await reader.close();
  });

  test('a chunk removed from the stream: ERR_PROTOCOL naming the stream limits, never a partial tensor', async () => {
    const stream = unique('GONE');
    const writer = new NatsConsumer(`${server.url}/${stream}.t?stream=${stream}&createStream`);
    await writer.push(tensor('uint8', [3 * 1024 * 1024]));
    await writer.push(numbered(4));
    await writer.close();
    await jsm.streams.deleteMessage(stream, 2);
    const reader = new NatsProducer(`${server.url}/${stream}.t?stream=${stream}`);
    const err = (await reader.next().catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('ERR_PROTOCOL');
    expect(err.message).toMatch(/chunk 2 of 4.*max_age/);
    expectSameTensor(await reader.next(), numbered(4));
    await reader.close();
  });
});
