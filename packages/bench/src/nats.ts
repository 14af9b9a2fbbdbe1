// NATS rows: a writer and a reader in this process, each on its own
// connection to a nats-server the bench starts (JetStream on, memory
// streams made fresh for every run), beside the raw @nats-io client doing
// the same in the same run. Each body times itself (setup excluded).
import { performance } from 'node:perf_hooks';
import { type NatsServer, startNatsServer } from '@harmonics/conformance/nats-server';
import { type Tensor, encodeTensor, tensor } from '@harmonics/core';
import { NatsConsumer, NatsProducer } from '@harmonics/transport-nats';
import { AckPolicy, type JetStreamClient, type JetStreamManager, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { type Case, sink } from './harness.js';

const KiB = 1024;
const MiB = 1024 * 1024;

interface Side {
  server: NatsServer;
  writer: NatsConnection;
  reader: NatsConnection;
  jsm: JetStreamManager;
  js: JetStreamClient;
  jsReader: JetStreamClient;
}

async function open(maxPayload?: number): Promise<Side> {
  const server = await startNatsServer({ maxPayload });
  const writer = await connect({ servers: server.url });
  const reader = await connect({ servers: server.url });
  return { server, writer, reader, jsm: await jetstreamManager(writer), js: jetstream(writer), jsReader: jetstream(reader) };
}

async function close(s: Side | undefined): Promise<void> {
  if (s === undefined) return;
  await s.writer.close();
  await s.reader.close();
  await s.server.stop();
}

let runs = 0;

/** Rejects, naming where it stood, when a run takes longer than 60 s: a stalled row fails instead of hanging the bench. */
function watchdog<T>(what: string, progress: () => string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} stalled for 60 s: ${progress()}`)), 60_000);
  });
  return Promise.race([work, stalled]).finally(() => clearTimeout(timer));
}

/** A fresh memory stream with subjects `SUBJECT` and `SUBJECT.chunks` and direct gets allowed (as createStream makes them), deleted after `body`. */
async function withStream<T>(s: Side, body: (stream: string, subject: string) => Promise<T>): Promise<T> {
  const stream = `BENCH${++runs}`;
  const subject = `bench.${runs}`;
  await s.jsm.streams.add({ name: stream, subjects: [subject, `${subject}.chunks`], storage: StorageType.Memory, allow_direct: true });
  try {
    return await body(stream, subject);
  } finally {
    await s.jsm.streams.delete(stream);
  }
}

function payloadTensor(bytes: number): Tensor {
  const t = tensor('float32', [bytes / 4]);
  (t.data as Float32Array).fill(1.5);
  return t;
}

/** Ours, plain subject: NatsConsumer → NatsProducer, `n` tensors; MB/s of tensor data. */
function oursPlain(s: () => Side, bytes: number) {
  return async (n: number): Promise<number> => {
    const subject = `plain.${++runs}`;
    const t = payloadTensor(bytes);
    // At-most-once: a server that finds the reader too slow drops messages, so reading stops after a quiet second
    // (the same check as the raw side's, re-armed every 1024 tensors) and counts what came.
    const reader = new NatsProducer(subject, { connection: s().reader });
    await reader.ready;
    const writer = new NatsConsumer(subject, { connection: s().writer, end: false });
    const t0 = performance.now();
    let got = 0;
    let t1 = t0;
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const arm = (): void => {
      clearTimeout(quiet);
      quiet = setTimeout(() => void reader.close(), 1000);
    };
    const reading = (async () => {
      arm();
      try {
        for (; got < n; got++) {
          sink.value += (await reader.next())!.data.length;
          t1 = performance.now();
          if ((got & 1023) === 1023) arm();
        }
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_CLOSED') throw err;
      }
      clearTimeout(quiet);
    })();
    let pushed = 0;
    const writing = (async () => {
      for (; pushed < n; pushed++) await writer.push(t);
    })();
    await watchdog(`ours ${subject}`, () => `${pushed} of ${n} pushed, ${got} read`, Promise.all([reading, writing]));
    if (got < n) console.error(`nats.pub: ${n - got} of ${n} tensors dropped by the server (slow consumer)`);
    const rate = (got * bytes) / ((t1 - t0) / 1000);
    await writer.close();
    await reader.close();
    return rate;
  };
}

/** Raw client, plain subject: publish the same record bytes `n` times, a subscription takes them. */
function rawPlain(s: () => Side, bytes: number) {
  return async (n: number): Promise<number> => {
    const subject = `plain.${++runs}`;
    const record = encodeTensor(payloadTensor(bytes));
    const sub = s().reader.subscribe(subject);
    await s().reader.flush();
    const t0 = performance.now();
    let seen = 0;
    let t1 = t0;
    const reading = (async () => {
      // As above: stop after a quiet second.
      let quiet: ReturnType<typeof setTimeout> | undefined;
      const arm = (): void => {
        clearTimeout(quiet);
        quiet = setTimeout(() => sub.unsubscribe(), 1000);
      };
      arm();
      for await (const m of sub) {
        sink.value += m.data.length;
        t1 = performance.now();
        if (++seen === n) break;
        if ((seen & 1023) === 0) arm();
      }
      clearTimeout(quiet);
    })();
    let published = 0;
    const writing = (async () => {
      let unflushed = 0;
      for (; published < n; published++) {
        s().writer.publish(subject, record);
        // The same flow control as NatsConsumer's highWaterMark (8 MiB): a flush round trip now and then.
        if ((unflushed += record.length) > 8 * MiB) {
          unflushed = 0;
          await s().writer.flush();
        }
      }
    })();
    await watchdog(`raw ${subject}`, () => `${published} of ${n} published, ${seen} read`, Promise.all([reading, writing]));
    if (seen < n) console.error(`raw nats.pub: ${n - seen} of ${n} messages dropped by the server (slow consumer)`);
    return (seen * bytes) / ((t1 - t0) / 1000);
  };
}

/** Ours, JetStream: push (each awaiting its PubAck) while a durable pull reader takes and acks them. */
function oursStream(s: () => Side, bytes: number) {
  return (n: number): Promise<number> =>
    withStream(s(), async (stream, subject) => {
      const t = payloadTensor(bytes);
      const reader = new NatsProducer(subject, { connection: s().reader, stream, durable: 'bench' });
      await reader.ready;
      const writer = new NatsConsumer(subject, { connection: s().writer, stream, end: false });
      await writer.ready;
      const t0 = performance.now();
      let got = 0;
      let pushed = 0;
      const reading = (async () => {
        for (; got < n; got++) sink.value += (await reader.next())!.data.length;
      })();
      const writing = (async () => {
        for (; pushed < n; pushed++) await writer.push(t);
      })();
      await watchdog(`ours ${stream}`, () => `${pushed} of ${n} pushed, ${got} read`, Promise.all([reading, writing]));
      const rate = (n * bytes) / ((performance.now() - t0) / 1000);
      await reader.close(); // acks the last
      await writer.close();
      return rate;
    });
}

/** Raw client, JetStream: js.publish with a msgID awaiting each PubAck (in `pieces` messages per tensor), a durable consumed and acked message by message. */
function rawStream(s: () => Side, bytes: number, pieceBytes = Infinity) {
  return (n: number): Promise<number> =>
    withStream(s(), async (stream, subject) => {
      const record = encodeTensor(payloadTensor(bytes));
      const pieces: Uint8Array[] = [];
      for (let at = 0; at < record.length; at += Math.min(pieceBytes, record.length)) pieces.push(record.subarray(at, at + pieceBytes));
      await s().jsm.consumers.add(stream, { durable_name: 'bench', ack_policy: AckPolicy.Explicit, filter_subject: subject });
      const consumer = await s().jsReader.consumers.get(stream, 'bench');
      const t0 = performance.now();
      const messages = await consumer.consume({ max_messages: 64 });
      let seen = 0;
      let published = 0;
      const reading = (async () => {
        for await (const m of messages) {
          sink.value += m.data.length;
          m.ack();
          if (++seen === n * pieces.length) break;
        }
      })();
      const writing = (async () => {
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < pieces.length; k++, published++) await s().js.publish(subject, pieces[k], { msgID: `${i}.${k}` });
        }
      })();
      await watchdog(`raw ${stream}`, () => `${published} of ${n * pieces.length} published, ${seen} read`, Promise.all([reading, writing]));
      return (n * bytes) / ((performance.now() - t0) / 1000);
    });
}

export function natsCases(): Case[] {
  let plain: Side | undefined;
  let big: Side | undefined;
  const side = (): Side => plain!;
  const bigSide = (): Side => big!;
  const setupDefault = async (): Promise<void> => {
    plain ??= await open();
  };
  return [
    {
      name: 'nats.pub.1KiB',
      unit: 'MB/s',
      baseline: 'raw @nats-io publish + subscribe of the same records, one server, same run',
      subject: oursPlain(side, KiB),
      reference: rawPlain(side, KiB),
      iterations: 20_000,
      rate: true,
      setup: setupDefault,
    },
    {
      name: 'nats.js.1KiB',
      unit: 'MB/s',
      baseline: 'raw @nats-io js.publish awaiting each PubAck + durable consume/ack',
      subject: oursStream(side, KiB),
      reference: rawStream(side, KiB),
      iterations: 2000,
      rate: true,
      setup: setupDefault,
    },
    {
      name: 'nats.js.4MiB',
      unit: 'MB/s',
      baseline: 'raw @nats-io, one 4 MiB message each (server max_payload 8 MiB)',
      subject: oursStream(bigSide, 4 * MiB),
      reference: rawStream(bigSide, 4 * MiB),
      iterations: 24,
      rate: true,
      setup: async () => {
        big ??= await open(8 * MiB);
      },
      teardown: async () => {
        await close(big);
        big = undefined;
      },
    },
    {
      name: 'nats.js.4MiB.chunked',
      unit: 'MB/s',
      baseline: 'raw @nats-io publishing the record as 1 MiB messages, each awaiting its PubAck (default max_payload)',
      subject: oursStream(side, 4 * MiB),
      reference: rawStream(side, 4 * MiB, MiB - 8 * KiB),
      iterations: 24,
      rate: true,
      setup: setupDefault,
      teardown: async () => {
        await close(plain);
        plain = undefined;
      },
    },
  ];
}
