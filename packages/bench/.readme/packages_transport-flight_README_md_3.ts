// from packages/transport-flight/README.md, block 3
import { FlightClient, FlightProducer } from '@harmonics/transport-flight';

const client = new FlightClient('127.0.0.1', 8815, { stream: 'embeddings' });
const info = await client.getFlightInfo(); // { path, endpoints, totalRecords, totalBytes, schema, tensor }
client.close();
const producer = new FlightProducer('127.0.0.1', 8815, { ticket: info.endpoints[0].ticket });

export {};
