import { tensor } from '@harmonics/core';
import { GrpcConsumer, GrpcProducer, GrpcServer } from '@harmonics/transport-grpc';
const server = await GrpcServer.listen({});
const consumer = new GrpcConsumer('127.0.0.1', server.port);
const producer = process.argv[4] === 'remote' ? new GrpcProducer('127.0.0.1', server.port, process.argv[5] ? {channelOptions: {'grpc.use_local_subchannel_pool': 1}} : {}) : server.producer();
const size = Number(process.argv[2]); const n = Number(process.argv[3]);
const t = tensor('float32', [size]);
const s = performance.now();
const r = (async () => { for (let i = 0; i < n; i++) { await producer.next(); if (i % 10 === 0) console.log('got', i, (performance.now() - s).toFixed(0)); } })();
for (let i = 0; i < n; i++) { await consumer.push(t); }
console.log('pushed');
await r;
const ms = performance.now() - s;
console.log(size, n, ms.toFixed(0), 'ms', (n * t.data.byteLength / ms / 1e3).toFixed(0), 'MB/s');
await consumer.close(); await producer.close();
await server.close({ timeoutMs: 0 });
