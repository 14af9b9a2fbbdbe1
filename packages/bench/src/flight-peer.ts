// The other Node process of the Flight benchmarks: a TensorFlightServer on a
// free port (printed), then one of
//   put COUNT   reads COUNT tensors that clients DoPut, locally; prints "done"
//   get COUNT   queues COUNT [1048576] float32 tensors and ends the stream, for a client's DoGet
import { tensor } from '@harmonics/core';
import { TensorFlightServer } from '@harmonics/transport-flight';

const [direction, countArg] = process.argv.slice(2);
const count = Number(countArg);

async function main(): Promise<void> {
  const server = await TensorFlightServer.listen({ port: 0 });
  console.log(server.port);
  if (direction === 'put') {
    for (let i = 0; i < count; i++) await server.getTensor();
    console.log('done');
  } else {
    const t = tensor('float32', [1024 * 1024]);
    (t.data as Float32Array).fill(0.5);
    for (let i = 0; i < count; i++) await server.putTensor(t);
    server.endStream();
    while (server.listStreams()[0].size > 0) await new Promise((r) => setTimeout(r, 20));
  }
  await server.close({ timeoutMs: 10_000 });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
