import { tensor } from '@harmonics/core';
import { GrpcConsumer, GrpcProducer, GrpcServer } from '@harmonics/transport-grpc';
const server = await GrpcServer.listen({});
const consumer = new GrpcConsumer('127.0.0.1', server.port);
const mode = process.argv[2];
const producer = mode === 'local' ? server.producer() : new GrpcProducer('127.0.0.1', server.port);
for (const [n, size] of [[20, 1 << 20], [50, 1 << 20], [2, 16 << 20]]) {
  const t = tensor('float32', [size]);
  const s = performance.now();
  const r = (async () => { for (let i = 0; i < n; i++) await producer.next(); })();
  for (let i = 0; i < n; i++) await consumer.push(t);
  await r;
  const ms = performance.now() - s;
  console.log(size, n, ms.toFixed(0), 'ms', (n * t.data.byteLength / ms / 1e3).toFixed(0), 'MB/s');
}
await consumer.close(); await producer.close();
await server.close({ timeoutMs: 0 });
