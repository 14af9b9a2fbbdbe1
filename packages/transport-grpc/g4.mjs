import { tensor } from '@harmonics/core';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { GrpcConsumer, GrpcServer } from '@harmonics/transport-grpc';
const server = await GrpcServer.listen({});
const consumer = new GrpcConsumer('127.0.0.1', server.port, process.argv[4] ? {channelOptions: {'grpc.use_local_subchannel_pool': 1}} : {});
const raw = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure(), {'grpc-node.flow_control_window': 16<<20, 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': 268435472, 'grpc.max_receive_message_length': 268435472});
const md = new Metadata(); md.set('magic', 'HGRP');
const size = Number(process.argv[2]); const n = Number(process.argv[3]);
const call = raw.makeServerStreamRequest('/harmonics.TensorService/PopTensor', (b) => b, (b) => b, Buffer.alloc(0), md);
let got = 0; const s = performance.now();
const done = new Promise((r) => call.on('data', () => { got++; if (got % 10 === 0) console.log('got', got, (performance.now()-s).toFixed(0)); if (got === n) r(); }));
call.on('error', (e) => console.log('err', e.message));
const t = tensor('float32', [size]);
for (let i = 0; i < n; i++) { await consumer.push(t); }
console.log('pushed');
await done;
console.log('done', (performance.now()-s).toFixed(0));
process.exit(0);
