import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SocketServer } from '@harmonics/transport-net';
import { type Case, sink } from './harness.js';

const PEER = fileURLToPath(new URL('./peer.js', import.meta.url));

function startPeer(args: string[]): Promise<void> {
  const child = spawn(process.execPath, [PEER, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bench peer ${args[0]} exited with ${code}`)))),
  );
}

/** Receive `expectedBytes` from a raw socket sent by another process; timed from accept to end. */
async function rawReceive(messageBytes: number, count: number): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const received = new Promise<number>((resolve) => {
    server.once('connection', (socket) => {
      const t0 = performance.now();
      let bytes = 0;
      socket.on('data', (d: Buffer) => {
        bytes += d.length;
        sink.value += d[0];
      });
      socket.once('end', () => resolve((performance.now() - t0) / 1000));
    });
  });
  const peer = startPeer(['raw', String(port), String(messageBytes), String(count)]);
  const seconds = await received;
  await peer;
  server.close();
  return seconds;
}

/** Receive `count` tensors from a TcpConsumer in another process; timed from accept to end of stream. */
async function tcpReceive(elements: number, count: number): Promise<number> {
  const server = await SocketServer.listen({ port: 0 });
  const peer = startPeer(['tcp', String(server.port), String(elements), String(count)]);
  const producer = await server.acceptProducer();
  const t0 = performance.now();
  let n = 0;
  for (let t = await producer.next(); t !== undefined; t = await producer.next()) {
    n++;
    sink.value += t.data.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  await peer;
  await server.close({ closeConnections: true });
  if (n !== count) throw new Error(`expected ${count} tensors, got ${n}`);
  return seconds;
}

export function netCases(): Case[] {
  const bigElements = 1024 * 1024; // 4 MiB of float32
  const bigFrame = 4 + 13 + bigElements * 4;
  const bigCount = 64;
  const smallElements = 256; // 1 KiB of float32
  const smallFrame = 4 + 13 + smallElements * 4;
  const smallCount = 300_000;
  return [
    {
      name: 'net.tcp.4MiB',
      unit: 'MB/s',
      baseline: 'raw net socket, same bytes, process to process',
      note: `${bigCount} float32 tensors of 4 MiB per run`,
      iterations: 1,
      runs: 5,
      subject: async () => {
        const s = await tcpReceive(bigElements, bigCount);
        return (bigCount * bigFrame) / s;
      },
      reference: async () => {
        const s = await rawReceive(bigFrame, bigCount);
        return (bigCount * bigFrame) / s;
      },
      rate: true,
    },
    {
      name: 'net.tcp.1KiB',
      unit: 'tensors/s',
      baseline: 'raw net socket, corked, same bytes, process to process',
      note: `${smallCount} tensors of 1 KiB per run`,
      iterations: 1,
      runs: 5,
      subject: async () => smallCount / (await tcpReceive(smallElements, smallCount)),
      reference: async () => smallCount / (await rawReceive(smallFrame, smallCount)),
      rate: true,
    },
  ];
}
