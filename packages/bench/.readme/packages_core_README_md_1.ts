// from packages/core/README.md, block 1
import { StreamConsumer, StreamProducer, decodeTensor, encodeTensor, tensor } from '@harmonics/core';

const t = tensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]);
const record = encodeTensor(t);            // the C++ library's record bytes
const back = decodeTensor(record);         // bit-exact; a view when aligned

// Any byte stream: here a WHATWG TransformStream; a Node socket, pipe or
// process.stdin/stdout works the same.
const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
const consumer = new StreamConsumer(writable);
const producer = new StreamProducer(readable);
void (async () => {
  await consumer.push(t);
  await consumer.close();
})();
for await (const received of producer) console.log(received.shape, received.data);

export {};
