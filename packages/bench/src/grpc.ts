import { fileURLToPath } from 'node:url';
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import { encodedByteLength, tensor } from '@harmonics/core';
import { GrpcConsumer, GrpcProducer, POP_PATH, PUSH_PATH } from '@harmonics/transport-grpc';
import { type Case, type Peer, sink, spawnPeer } from './harness.js';

const PEER = fileURLToPath(new URL('./grpc-peer.js', import.meta.url));
const identity = (b: Buffer): Buffer => b;

async function startPeer(args: string[]): Promise<Peer & { port: number }> {
  const peer = spawnPeer('grpc bench peer', process.execPath, [PEER, ...args]);
  return { ...peer, port: Number(await peer.line()) };
}

function magic(): Metadata {
  const md = new Metadata();
  md.set('magic', 'HGRP');
  return md;
}

/** GrpcConsumer → GrpcServer in another process (read locally there); timed until the peer has them all. */
async function harmonicsPush(elements: number, count: number): Promise<number> {
  const peer = await startPeer(['push', 'harmonics', String(elements * 4), String(count)]);
  const consumer = new GrpcConsumer('127.0.0.1', peer.port);
  const t = tensor('float32', [elements]);
  (t.data as Float32Array).fill(0.5);
  await consumer.push(t); // connected; not counted
  const t0 = performance.now();
  const done = peer.line();
  for (let i = 1; i < count; i++) await consumer.push(t);
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await consumer.close();
  await peer.exited;
  return seconds;
}

/** Raw grpc-js client stream, identity serializer, default channel settings (or 16 MiB windows both sides); same message size. */
async function rawPush(messageBytes: number, count: number, windows16 = false): Promise<number> {
  const peer = await startPeer(['push', windows16 ? 'raw16' : 'raw', String(messageBytes), String(count)]);
  const client = new Client(`127.0.0.1:${peer.port}`, credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    ...(windows16 ? { 'grpc-node.flow_control_window': 16 * 1024 * 1024 } : {}),
  });
  const message = Buffer.alloc(messageBytes, 7);
  let answered!: () => void;
  const response = new Promise<void>((r) => (answered = r));
  const call = client.makeClientStreamRequest(PUSH_PATH, identity, identity, magic(), () => answered());
  const first = new Promise((r) => call.write(message, r));
  await first;
  const t0 = performance.now();
  const done = peer.line();
  for (let i = 1; i < count; i++) {
    if (!call.write(message)) await new Promise((r) => call.once('drain', r));
  }
  await done;
  const seconds = (performance.now() - t0) / 1000;
  call.end();
  await response;
  client.close();
  await peer.exited;
  return seconds;
}

/** GrpcServer fed locally in another process → GrpcProducer here; timed from the first tensor to the end. */
async function harmonicsPop(elements: number, count: number): Promise<number> {
  const peer = await startPeer(['pop', 'harmonics', String(elements * 4), String(count)]);
  const producer = new GrpcProducer('127.0.0.1', peer.port);
  await producer.next();
  const t0 = performance.now();
  let n = 1;
  for (let t = await producer.next(); t !== undefined; t = await producer.next()) {
    n++;
    sink.value += t.data.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  await producer.close();
  await peer.exited;
  if (n !== count) throw new Error(`expected ${count} tensors, got ${n}`);
  return seconds;
}

/** Raw grpc-js server stream to a raw client (identity deserializer, default settings, or 16 MiB windows both sides). */
async function rawPop(messageBytes: number, count: number, windows16 = false): Promise<number> {
  const peer = await startPeer(['pop', windows16 ? 'raw16' : 'raw', String(messageBytes), String(count)]);
  const client = new Client(`127.0.0.1:${peer.port}`, credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    ...(windows16 ? { 'grpc-node.flow_control_window': 16 * 1024 * 1024 } : {}),
  });
  const call = client.makeServerStreamRequest(POP_PATH, identity, identity, Buffer.alloc(0), magic());
  let n = 0;
  let t0 = 0;
  await new Promise<void>((resolve, reject) => {
    call.on('data', (m: Buffer) => {
      if (n++ === 0) t0 = performance.now();
      sink.value += m.length;
    });
    call.on('end', resolve);
    call.on('error', reject);
  });
  const seconds = (performance.now() - t0) / 1000;
  client.close();
  await peer.exited;
  if (n !== count) throw new Error(`raw pop: expected ${count} messages, got ${n}`);
  return seconds;
}

export function grpcCases(): Case[] {
  const cases: Case[] = [];
  for (const [label, elements, count] of [
    ['4MiB', 1024 * 1024, 48],
    ['1KiB', 256, 40_000],
  ] as const) {
    // The same bytes as one TensorData message of ours: record plus protobuf framing.
    const record = encodedByteLength(tensor('float32', [elements]));
    const messageBytes = record + 1 + (record < 128 ? 1 : record < 16384 ? 2 : record < 2097152 ? 3 : 4);
    const big = label === '4MiB';
    const unit = big ? 'MB/s' : 'tensors/s';
    const perRun = (seconds: number): number => (big ? ((count - 1) * messageBytes) / seconds : (count - 1) / seconds);
    cases.push(
      {
        name: `grpc.push.${label}`,
        unit,
        baseline: 'raw grpc-js client stream, identity serializers, default settings, process to process',
        note: `${count} float32 tensors per run`,
        iterations: 1,
        runs: 5,
        subject: async () => perRun(await harmonicsPush(elements, count)),
        reference: async () => perRun(await rawPush(messageBytes, count)),
        rate: true,
      },
      {
        name: `grpc.pop.${label}`,
        unit,
        baseline: 'raw grpc-js server stream, identity serializers, default settings, process to process',
        note: `${count} float32 tensors per run`,
        iterations: 1,
        runs: 5,
        subject: async () => perRun(await harmonicsPop(elements, count)),
        reference: async () => perRun(await rawPop(messageBytes, count)),
        rate: true,
      },
    );
    if (big) {
      // What the windows alone are worth: the same raw grpc-js with 16 MiB HTTP/2 windows (as ours) against default ones.
      for (const [dir, run] of [
        ['push', rawPush],
        ['pop', rawPop],
      ] as const) {
        cases.push({
          name: `grpc.${dir}.${label}.raw16MiB`,
          unit,
          baseline: `raw grpc-js ${dir === 'push' ? 'client' : 'server'} stream, default settings; the row is the same with 16 MiB windows both sides`,
          note: `${count} messages per run`,
          iterations: 1,
          runs: 5,
          subject: async () => perRun(await run(messageBytes, count, true)),
          reference: async () => perRun(await run(messageBytes, count)),
          rate: true,
        });
      }
    }
  }
  return cases;
}
