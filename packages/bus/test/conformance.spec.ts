import { MessageBus } from '@harmonics/bus';
import { runTransportSuite } from '@harmonics/conformance';

runTransportSuite({
  name: 'MessageBus (unbounded)',
  setup: async () => {
    const bus = new MessageBus();
    return { producer: bus.producer(), consumer: bus.consumer() };
  },
  capabilities: { ownership: 'reference', maxMessageBytes: false, backpressure: false },
});

runTransportSuite({
  name: 'MessageBus (capacity 4)',
  setup: async () => {
    const bus = new MessageBus({ capacity: 4 });
    return { producer: bus.producer(), consumer: bus.consumer() };
  },
  capabilities: { ownership: 'reference', maxMessageBytes: false },
});
