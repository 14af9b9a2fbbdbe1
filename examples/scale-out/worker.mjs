// One worker of the middle stage (layers l2 and l3): reads the stage's inputs
// from the JetStream work queue it shares with the other workers (durable
// "middle"), and publishes each output with runStage, whose message ids make
// the effect exactly-once. Prints one JSON line per input it answered.
//
//   node worker.mjs --servers nats://127.0.0.1:4222[,nats://…] --name w1
import { parseArgs } from 'node:util';
import { NatsConsumer, NatsProducer, runStage } from '@harmonics/transport-nats';
import { LAYERS, forward, makeWeights } from '../pipeline/model.mjs';

const { values: args } = parseArgs({ options: { servers: { type: 'string' }, name: { type: 'string', default: 'worker' } } });
const servers = args.servers.split(',');
const weights = makeWeights();
const middle = LAYERS.slice(1, 3);

// prefetch 1: a worker holds one input at a time, so the queue stays fair and a killed worker strands one input (redelivered after ackWaitMs).
const input = new NatsProducer('scaleout.mid', { servers, stream: 'SCALEOUT_MID', durable: 'middle', prefetch: 1, ackWaitMs: 2000 });
const output = new NatsConsumer('scaleout.out', { servers, stream: 'SCALEOUT_OUT', end: false });
await Promise.all([input.ready, output.ready]);
console.log(JSON.stringify({ worker: args.name, ready: true }));
const result = await runStage(input, output, (x) => forward(x, middle, weights), {
  idPrefix: 'middle:',
  afterOutput: (d, ack) => console.log(JSON.stringify({ worker: args.name, input: d.seq, redelivered: d.redelivered, duplicate: ack.duplicate })),
});
console.log(JSON.stringify({ worker: args.name, done: true, ...result }));
await input.close();
await output.close();
