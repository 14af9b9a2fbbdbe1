// from packages/bus/README.md, block 1
import { MessageBus } from '@harmonics/bus';
import { tensor } from '@harmonics/core';

const bus = new MessageBus({ capacity: 64 }); // push() waits while 64 are queued

const writer = bus.consumer();
const reader = bus.producer();

void (async () => {
  for (let i = 0; i < 3; i++) await writer.push(tensor('float32', [2], [i, -i]));
  await writer.close(); // the last consumer closing ends the bus
})();

for await (const t of reader) console.log(t.data); // three tensors, then the loop ends

export {};
