// The other process of the gRPC benchmarks. It serves on a free port, prints
// it, and then one of:
//   push harmonics|raw|raw16 BYTES COUNT   receives COUNT messages of BYTES (PushTensor), prints "done" when all arrived
//   pop  harmonics|raw|raw16 BYTES COUNT   sends COUNT messages of BYTES to the first PopTensor call
// "harmonics" is a GrpcServer (tensors of BYTES/4 float32, queue read or fed
// locally); "raw" is a plain grpc-js server with identity serializers and
// default settings (only the 4 MiB message limit lifted), moving Buffers;
// "raw16" is the same with 16 MiB HTTP/2 windows, set as GrpcServer sets
// them (grpc-js has no server option for it).
import type { Http2Server, Http2Session } from 'node:http2';
import { Metadata, Server, ServerCredentials, type ServerReadableStream, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import { tensor } from '@harmonics/core';
import { GrpcServer, POP_PATH, PUSH_PATH } from '@harmonics/transport-grpc';

const [direction, kind, bytesArg, countArg] = process.argv.slice(2);
const WINDOW_16MIB = 16 * 1024 * 1024;
const bytes = Number(bytesArg);
const count = Number(countArg);

async function harmonics(): Promise<void> {
  const server = await GrpcServer.listen({ port: 0 });
  console.log(server.port);
  if (direction === 'push') {
    for (let i = 0; i < count; i++) await server.pop();
    console.log('done');
  } else {
    const t = tensor('float32', [bytes / 4]);
    (t.data as Float32Array).fill(0.5);
    for (let i = 0; i < count; i++) await server.push(t);
    server.end();
  }
  await server.close({ timeoutMs: 10_000 });
}

async function raw(): Promise<void> {
  const identity = (b: Buffer): Buffer => b;
  const server = new Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  const internals = server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> }; http2Servers?: Map<Http2Server, unknown> };
  if (kind === 'raw16' && internals.commonServerOptions !== undefined) {
    internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: WINDOW_16MIB };
  }
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  server.addService(
    {
      PushTensor: {
        path: PUSH_PATH,
        requestStream: true,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
      PopTensor: {
        path: POP_PATH,
        requestStream: false,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      PushTensor: (call: ServerReadableStream<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        let n = 0;
        call.on('data', () => {
          if (++n === count) console.log('done');
        });
        call.on('end', () => {
          cb(null, Buffer.alloc(0));
          finished();
        });
      },
      PopTensor: async (call: ServerWritableStream<Buffer, Buffer>) => {
        const message = Buffer.alloc(bytes, 7);
        call.sendMetadata(new Metadata());
        for (let i = 0; i < count; i++) {
          if (!call.write(message)) await new Promise((r) => call.once('drain', r));
        }
        call.end();
        finished();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  if (kind === 'raw16') {
    for (const h2 of internals.http2Servers?.keys() ?? []) h2.on('session', (s: Http2Session) => s.setLocalWindowSize(WINDOW_16MIB));
  }
  console.log(port);
  const keepAlive = setInterval(() => undefined, 1000);
  await done;
  clearInterval(keepAlive);
  await new Promise<void>((r) => server.tryShutdown(() => r()));
}

(kind === 'raw' || kind === 'raw16' ? raw() : harmonics()).catch((err) => {
  console.error(err);
  process.exit(1);
});
