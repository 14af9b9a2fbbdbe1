// The other process of the two-process benchmarks: it listens on a free
// port, prints it, and sends to the first connection; the parent connects,
// receives and times. Modes:
//   raw MESSAGE_BYTES COUNT    raw net server socket: COUNT messages, corked in groups of 64
//   tcp ELEMENTS COUNT         SocketServer consumer: COUNT float32 tensors of ELEMENTS elements
import { type Socket, createServer } from 'node:net';
import { tensor } from '@harmonics/core';
import { SocketServer } from '@harmonics/transport-net';

const [mode, sizeArg, countArg] = process.argv.slice(2);
const size = Number(sizeArg);
const count = Number(countArg);

async function raw(): Promise<void> {
  const message = new Uint8Array(size).fill(7);
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  console.log((server.address() as { port: number }).port);
  const socket = await new Promise<Socket>((r) => server.once('connection', r));
  server.close();
  socket.setNoDelay(true);
  for (let i = 0; i < count;) {
    socket.cork();
    const end = Math.min(count, i + 64);
    let ok = true;
    for (; i < end; i++) ok = socket.write(message);
    socket.uncork();
    if (!ok) await new Promise((r) => socket.once('drain', r));
  }
  await new Promise<void>((r) => socket.end(r));
}

async function harmonics(): Promise<void> {
  const t = tensor('float32', [size]);
  (t.data as Float32Array).fill(0.5);
  const server = await SocketServer.listen({ port: 0 });
  console.log(server.port);
  const c = await server.acceptConsumer();
  for (let i = 0; i < count; i++) await c.push(t);
  await c.close();
  await server.close();
}

(mode === 'raw' ? raw() : harmonics()).catch((err) => {
  console.error(err);
  process.exit(1);
});
