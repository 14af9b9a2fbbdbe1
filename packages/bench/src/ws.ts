import { fileURLToPath } from 'node:url';
import { type Producer, encodedByteLength, tensor } from '@harmonics/core';
import { WebSocketProducer, WebSocketServer } from '@harmonics/transport-ws';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import { type Case, sink, spawnPeer } from './harness.js';

const PEER = fileURLToPath(new URL('./ws-peer.js', import.meta.url));

/** Start a ws-peer.js that serves: its port, and its exit. */
async function startPeer(args: string[]): Promise<{ port: number; exited: Promise<void> }> {
  const peer = spawnPeer('ws bench peer', process.execPath, [PEER, ...args]);
  return { port: Number(await peer.line()), exited: peer.exited };
}

/** Seconds from now until `producer` ends, checking it gave `count` tensors. */
async function timeProducer(producer: Producer, count: number): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for (let t = await producer.next(); t !== undefined; t = await producer.next()) {
    n++;
    sink.value += t.data.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (n !== count) throw new Error(`expected ${count} tensors, got ${n}`);
  return seconds;
}

/** Seconds from now until raw `ws` closes, checking it got `count` messages. */
async function timeMessages(ws: WebSocket, count: number): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (d: Buffer) => {
      n++;
      sink.value += d.length;
    });
    ws.once('close', () => resolve());
    ws.once('error', reject);
  });
  const seconds = (performance.now() - t0) / 1000;
  if (n !== count) throw new Error(`raw ws: expected ${count} messages, got ${n}`);
  return seconds;
}

/** WebSocketServer consumer in another process → WebSocketProducer here; timed from open to the close. */
async function harmonicsReceive(elements: number, count: number): Promise<number> {
  const peer = await startPeer(['harmonics', String(elements * 4), String(count)]);
  const seconds = await timeProducer(new WebSocketProducer('127.0.0.1', peer.port), count);
  await peer.exited;
  return seconds;
}

/** A raw ws client (bufferutil) receiving the same bytes from a raw ws server in another process. */
async function rawReceive(bytes: number, count: number): Promise<number> {
  const peer = await startPeer(['raw', String(bytes), String(count)]);
  const seconds = await timeMessages(new WebSocket(`ws://127.0.0.1:${peer.port}`, { perMessageDeflate: false, maxPayload: 0 }), count);
  await peer.exited;
  return seconds;
}

/** A WebSocketServer producer here receives from a WebSocketConsumer client in another process. */
async function harmonicsServerReceive(elements: number, count: number): Promise<number> {
  const server = await WebSocketServer.listen({ port: 0 });
  try {
    const child = spawnPeer('ws bench peer', process.execPath, [PEER, 'harmonics-client', String(elements * 4), String(count), String(server.port)]);
    const seconds = await timeProducer(await server.acceptProducer(), count);
    await child.exited;
    return seconds;
  } finally {
    await server.close();
  }
}

/** A raw ws server (bufferutil) here receives the same bytes from a raw ws client in another process. */
async function rawServerReceive(bytes: number, count: number): Promise<number> {
  const wss = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 0 });
  try {
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as { port: number }).port;
    const child = spawnPeer('ws bench peer', process.execPath, [PEER, 'raw-client', String(bytes), String(count), String(port)]);
    const seconds = await timeMessages(await new Promise<WebSocket>((r) => wss.once('connection', r)), count);
    await child.exited;
    return seconds;
  } finally {
    wss.close();
  }
}

export function wsCases(): Case[] {
  const fromServer: Case[] = [
    ['4MiB', 1024 * 1024, 64],
    ['1KiB', 256, 400_000],
  ].map(([label, elements, count]) => {
    const e = elements as number;
    const n = count as number;
    const bytes = encodedByteLength(tensor('float32', [e]));
    const big = label === '4MiB';
    return {
      name: `ws.${label}`,
      unit: big ? 'MB/s' : 'tensors/s',
      baseline: 'raw ws (bufferutil) server → client, same bytes, corked batches of 64, process to process',
      note: `${n} float32 tensors per run`,
      iterations: 1,
      runs: big ? 5 : 7,
      subject: async () => (big ? (n * bytes) / (await harmonicsReceive(e, n)) : n / (await harmonicsReceive(e, n))),
      reference: async () => (big ? (n * bytes) / (await rawReceive(bytes, n)) : n / (await rawReceive(bytes, n))),
      rate: true,
    } satisfies Case;
  });
  const elements = 256;
  const count = 400_000;
  const bytes = encodedByteLength(tensor('float32', [elements]));
  const toServer: Case = {
    name: 'ws.toServer.1KiB',
    unit: 'tensors/s',
    baseline: 'raw ws (bufferutil) client → server, same bytes, corked batches of 64, process to process',
    note: `${count} float32 tensors per run`,
    iterations: 1,
    runs: 7,
    subject: async () => count / (await harmonicsServerReceive(elements, count)),
    reference: async () => count / (await rawServerReceive(bytes, count)),
    rate: true,
  };
  return [...fromServer, toServer];
}
