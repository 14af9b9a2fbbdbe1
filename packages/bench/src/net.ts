import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { TcpProducer } from '@harmonics/transport-net';
import { type Case, sink } from './harness.js';

const PEER = fileURLToPath(new URL('./peer.js', import.meta.url));

/** Start the sending process; resolves with the port it listens on and its exit. */
async function startPeer(args: string[]): Promise<{ port: number; exited: Promise<void> }> {
  const child = spawn(process.execPath, [PEER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bench peer ${args[0]} exited with ${code}`)))),
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    exited.catch(reject);
  });
  return { port, exited };
}

/** Receive from a raw socket sent by another process: a plain client counting 'data' bytes; timed from connect to end. */
async function rawReceive(messageBytes: number, count: number): Promise<number> {
  const peer = await startPeer(['raw', String(messageBytes), String(count)]);
  const seconds = await new Promise<number>((resolve, reject) => {
    const socket = connect(peer.port, '127.0.0.1');
    let t0 = 0;
    let bytes = 0;
    socket.once('connect', () => (t0 = performance.now()));
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      sink.value += d[0];
    });
    socket.once('end', () =>
      bytes === messageBytes * count ? resolve((performance.now() - t0) / 1000) : reject(new Error(`raw: got ${bytes} bytes`)),
    );
    socket.once('error', reject);
  });
  await peer.exited;
  return seconds;
}

/** Receive `count` tensors with a TcpProducer from a SocketServer in another process; timed from connect to end of stream. */
async function tcpReceive(elements: number, count: number): Promise<number> {
  const peer = await startPeer(['tcp', String(elements), String(count)]);
  const producer = new TcpProducer('127.0.0.1', peer.port);
  await producer.connected;
  const t0 = performance.now();
  let n = 0;
  for (let t = await producer.next(); t !== undefined; t = await producer.next()) {
    n++;
    sink.value += t.data.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  await peer.exited;
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
      baseline: 'raw net socket (data events), same bytes, process to process',
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
      baseline: 'raw net socket, corked sender, same bytes, process to process',
      note: `${smallCount} tensors of 1 KiB per run`,
      iterations: 1,
      runs: 5,
      subject: async () => smallCount / (await tcpReceive(smallElements, smallCount)),
      reference: async () => smallCount / (await rawReceive(smallFrame, smallCount)),
      rate: true,
    },
  ];
}
