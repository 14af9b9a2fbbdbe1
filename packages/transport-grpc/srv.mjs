import { GrpcServer } from '@harmonics/transport-grpc';
const server = await GrpcServer.listen({ port: 50999 });
console.log('listening');
setInterval(() => {}, 1000);
