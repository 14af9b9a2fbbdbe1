// readme-run: listens=50051
// The next stage for the root README's "Quick look": a gRPC server that
// receives what the stage sends and checks it bit for bit.
import { GrpcServer } from '@harmonics/transport-grpc';
import { upstreamTensors } from './quick-look-data.mjs';

const server = await GrpcServer.listen({ port: 50051 });
const got = [];
for await (const t of server.producer()) got.push(t);
await server.close();
const want = upstreamTensors();
const same =
  got.length === want.length &&
  got.every(
    (t, i) =>
      t.dtype === want[i].dtype &&
      String(t.shape) === String(want[i].shape) &&
      Buffer.compare(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), Buffer.from(want[i].data.buffer)) === 0,
  );
if (!same) throw new Error(`the next stage got ${got.length} tensors, not the ${want.length} sent upstream bit for bit`);
