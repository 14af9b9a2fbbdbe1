// The other process of the two-process benchmarks. It connects to the port
// given and sends; the parent receives and times. Modes:
//   raw PORT MESSAGE_BYTES COUNT    raw net socket: COUNT messages, corked in groups of 64
//   tcp PORT ELEMENTS COUNT         TcpConsumer: COUNT float32 tensors of ELEMENTS elements
import { connect } from 'node:net';
import { tensor } from '@harmonics/core';
import { TcpConsumer } from '@harmonics/transport-net';

const [mode, portArg, sizeArg, countArg] = process.argv.slice(2);
const port = Number(portArg);
const size = Number(sizeArg);
const count = Number(countArg);

async function raw(): Promise<void> {
  const message = new Uint8Array(size).fill(7);
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  for (let i = 0; i < count; ) {
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
  const c = new TcpConsumer('127.0.0.1', port);
  for (let i = 0; i < count; i++) await c.push(t);
  await c.close();
}

(mode === 'raw' ? raw() : harmonics()).catch((err) => {
  console.error(err);
  process.exit(1);
});
