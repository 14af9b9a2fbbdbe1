// from packages/transport-flight/README.md, block 2
import { tensor } from '@harmonics/core';
import { FlightConsumer, FlightProducer, TensorFlightServer } from '@harmonics/transport-flight';

// In memory: no network; FlightConsumer(server)/FlightProducer(server) are its local ends.
const mem = new TensorFlightServer();
await mem.putTensor(tensor('float32', [3], [1, 2, 3]), { stream: 'weights' }); // by reference
mem.endStream('weights');
const first = await mem.getTensor({ stream: 'weights' });
const local = new FlightProducer(mem, { stream: 'weights' });

// Networked, with auth and a dataset that every reader replays.
const server = await TensorFlightServer.listen({
  port: 8815,
  host: '0.0.0.0',
  handshake: ({ username, password }) => (username === 'ml' && password === 's3cret' ? 'token-1' : undefined),
  verifyToken: (token) => token === 'token-1',
  resolveTicket: (ticket) => new TextDecoder().decode(ticket).replace(/^job:/, ''),
});
server.createStream('dataset', { retain: true });
const writer = new FlightConsumer(server, { stream: 'dataset' });

export {};
