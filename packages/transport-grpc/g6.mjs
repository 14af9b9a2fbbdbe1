import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { GrpcServer } from '@harmonics/transport-grpc';
const server = await GrpcServer.listen({ flowControlWindow: Number(process.argv[5] ?? 16777216) });
const opts = {'grpc-node.flow_control_window': Number(process.argv[4] ?? 65535), 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1};
const raw = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure(), opts);
const md = new Metadata(); md.set('magic', 'HGRP');
const size = Number(process.argv[2]); const n = Number(process.argv[3]);
const pop = raw.makeServerStreamRequest('/harmonics.TensorService/PopTensor', (b) => b, (b) => b, Buffer.alloc(0), md);
let got = 0; const s = performance.now();
const done = new Promise((r) => pop.on('data', () => { got++; if (got % 10 === 0) console.log('got', got, (performance.now()-s).toFixed(0)); if (got === n) r(); }));
pop.on('error', (e) => console.log('err', e.message));
const push = raw.makeClientStreamRequest('/harmonics.TensorService/PushTensor', (b) => b, (b) => b, md, (e) => console.log('push done', e?.message));
// TensorData with a uint8 record of `size` bytes
const rec = Buffer.alloc(1 + 4 + 4 + 4 + size); rec[0] = 4; rec.writeUInt32LE(1, 1); rec.writeUInt32LE(size, 5); rec.writeUInt32LE(size, 9);
const len = []; for (let v = rec.length; ; v = Math.floor(v / 128)) { if (v < 128) { len.push(v); break; } len.push((v & 127) | 128); }
const msg = Buffer.concat([Buffer.from([0x0a, ...len]), rec]);
for (let i = 0; i < n; i++) { if (!push.write(msg)) await new Promise((r) => push.once('drain', r)); }
console.log('pushed', (performance.now()-s).toFixed(0));
await done;
console.log('done', (performance.now()-s).toFixed(0));
process.exit(0);
