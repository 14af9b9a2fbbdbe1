import { tensor } from '@harmonics/core';
import { GrpcConsumer, GrpcProducer } from '@harmonics/transport-grpc';
const consumer = new GrpcConsumer('127.0.0.1', 50999);
const producer = new GrpcProducer('127.0.0.1', 50999);
const size = Number(process.argv[2]); const n = Number(process.argv[3]);
const t = tensor('float32', [size]);
const s = performance.now();
const r = (async () => { for (let i = 0; i < n; i++) { await producer.next(); } })();
for (let i = 0; i < n; i++) { await consumer.push(t); }
await r;
const ms = performance.now() - s;
console.log(size, n, ms.toFixed(0), 'ms', (n * t.data.byteLength / ms / 1e3).toFixed(0), 'MB/s');
process.exit(0);
