// The other process of the WebSocket benchmarks. As a server it serves on a
// free port, prints it, and sends COUNT messages of BYTES to the first
// connection; as a client it connects to PORT and sends them.
//   harmonics BYTES COUNT          WebSocketServer consumer: float32 tensors of BYTES/4 elements
//   raw BYTES COUNT                a plain ws server (bufferutil), sending in corked batches of 64 while bufferedAmount is low
//   harmonics-client BYTES COUNT PORT   WebSocketConsumer client, the same tensors
//   raw-client BYTES COUNT PORT         a plain ws client, the same bytes, the same batches
import { tensor } from '@harmonics/core';
import { WebSocketConsumer, WebSocketServer } from '@harmonics/transport-ws';
import WebSocket, { WebSocketServer as WsServer } from 'ws';

const [kind, bytesArg, countArg, portArg] = process.argv.slice(2);
const bytes = Number(bytesArg);
const count = Number(countArg);
const port = Number(portArg);

/** Send `count` messages in corked batches of 64, waiting while more than 4 MiB are buffered; then close. */
async function sendRaw(ws: WebSocket): Promise<void> {
  const message = Buffer.alloc(bytes, 7);
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  for (let i = 0; i < count;) {
    socket.cork();
    const end = Math.min(count, i + 64);
    for (; i < end; i++) ws.send(message, { binary: true });
    socket.uncork();
    while (ws.bufferedAmount > 4 * 1024 * 1024) await new Promise((r) => setImmediate(r));
  }
  await new Promise<void>((r) => {
    ws.once('close', () => r());
    ws.close(1000);
  });
}

async function harmonics(): Promise<void> {
  const server = await WebSocketServer.listen({ port: 0 });
  console.log(server.port);
  const consumer = await server.acceptConsumer();
  const t = tensor('float32', [bytes / 4]);
  (t.data as Float32Array).fill(0.5);
  for (let i = 0; i < count; i++) await consumer.push(t);
  await consumer.close();
  await server.close();
}

async function raw(): Promise<void> {
  const wss = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 0 });
  await new Promise((r) => wss.once('listening', r));
  console.log((wss.address() as { port: number }).port);
  await sendRaw(await new Promise<WebSocket>((r) => wss.once('connection', r)));
  wss.close();
}

async function harmonicsClient(): Promise<void> {
  const consumer = new WebSocketConsumer('127.0.0.1', port);
  const t = tensor('float32', [bytes / 4]);
  (t.data as Float32Array).fill(0.5);
  for (let i = 0; i < count; i++) await consumer.push(t);
  await consumer.close();
}

async function rawClient(): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 0 });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  await sendRaw(ws);
}

const kinds: Record<string, () => Promise<void>> = { harmonics, raw, 'harmonics-client': harmonicsClient, 'raw-client': rawClient };
kinds[kind!]!().catch((err) => {
  console.error(err);
  process.exit(1);
});
