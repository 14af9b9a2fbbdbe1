// from packages/transport-grpc/README.md, block 2
import { tensor } from '@harmonics/core';
import { GrpcServer } from '@harmonics/transport-grpc';

const server = await GrpcServer.listen({
  port: 9000,
  host: '0.0.0.0',          // default 127.0.0.1
  capacity: 1024,           // tensors queued before writers wait (PushTensor calls are paused)
  authorize: (md) => md.get('authorization')[0] === 'Bearer s3cret',
});
const local = server.consumer();   // a Consumer into the queue (counts as a writer)
await local.push(tensor('int32', [3], [1, 2, 3]));
await local.close();
const first = await server.pop();  // or server.producer(), a Producer of the queue
await server.close({ timeoutMs: 5000 });

export {};
