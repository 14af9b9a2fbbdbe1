import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor } from '@harmonics/core';
import { FlightConsumer, FlightProducer } from '@harmonics/transport-flight';
import { type Case, type Peer, sink, spawnPeer } from './harness.js';

const NODE_PEER = fileURLToPath(new URL('./flight-peer.js', import.meta.url));
const PY_SCRIPT = fileURLToPath(new URL('../flight_pyarrow.py', import.meta.url));
const PYTHON = process.env.HARMONICS_PYTHON ?? fileURLToPath(new URL('../../../.tools/py/bin/python', import.meta.url));
const ELEMENTS = 1024 * 1024;
const COUNT = 128;

const start = (cmd: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): Peer => spawnPeer('flight bench peer', cmd, args, stdin);

function payload() {
  const t = tensor('float32', [ELEMENTS]);
  (t.data as Float32Array).fill(0.5);
  return t;
}

/** FlightConsumer → TensorFlightServer in another Node process; timed from after the first tensor until close() (the server confirmed all). */
async function nodePut(): Promise<number> {
  const peer = start(process.execPath, [NODE_PEER, 'put', String(COUNT)]);
  const port = Number(await peer.line());
  const consumer = new FlightConsumer('127.0.0.1', port);
  const t = payload();
  await consumer.push(t);
  const t0 = performance.now();
  for (let i = 1; i < COUNT; i++) await consumer.push(t);
  await consumer.close();
  const seconds = (performance.now() - t0) / 1000;
  await peer.line();
  await peer.exited;
  return seconds;
}

/** TensorFlightServer in another Node process → FlightProducer; timed from the first tensor to the end. */
async function nodeGet(): Promise<number> {
  const peer = start(process.execPath, [NODE_PEER, 'get', String(COUNT)]);
  const port = Number(await peer.line());
  const producer = new FlightProducer('127.0.0.1', port);
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
  if (n !== COUNT) throw new Error(`expected ${COUNT} tensors, got ${n}`);
  return seconds;
}

/** pyarrow client → pyarrow FlightServerBase, another process each; the client times itself the same way. */
async function pyarrow(mode: 'put' | 'get'): Promise<number> {
  if (!existsSync(PYTHON)) {
    throw new Error(`the flight rows compare with pyarrow, and there is no Python at ${PYTHON}: run scripts/setup-peers.sh (pnpm bench does)`);
  }
  const server = start(PYTHON, [PY_SCRIPT, 'server', String(COUNT)], 'pipe');
  try {
    const port = await server.line();
    const client = start(PYTHON, [PY_SCRIPT, mode, port, String(COUNT)]);
    const seconds = Number(await client.line());
    await client.exited;
    return seconds;
  } finally {
    server.child.stdin!.end();
    await server.exited.catch(() => undefined);
  }
}

export function flightCases(): Case[] {
  // The same tensors, the same bytes: 47 timed 4 MiB float32 tensors per run.
  const perRun = (seconds: number): number => ((COUNT - 1) * ELEMENTS * 4) / seconds;
  const common = { unit: 'MB/s' as const, note: `${COUNT} [1048576] float32 tensors per run`, iterations: 1, runs: 5, rate: true };
  return [
    {
      name: 'flight.put.4MiB',
      baseline: 'pyarrow client DoPut → pyarrow FlightServerBase, process to process',
      ...common,
      subject: async () => perRun(await nodePut()),
      reference: async () => perRun(await pyarrow('put')),
    },
    {
      name: 'flight.get.4MiB',
      baseline: 'pyarrow FlightServerBase → pyarrow client DoGet, process to process',
      ...common,
      subject: async () => perRun(await nodeGet()),
      reference: async () => perRun(await pyarrow('get')),
    },
  ];
}
