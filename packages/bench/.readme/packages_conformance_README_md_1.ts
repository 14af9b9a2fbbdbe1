// from packages/conformance/README.md, block 1
import { MessageBus } from '@harmonics/bus';
import { runTransportSuite } from '@harmonics/conformance';

// test/conformance.spec.ts of a transport: start the medium, return a connected pair.
runTransportSuite({
  name: 'MessageBus',
  setup: async () => {
    const bus = new MessageBus({ capacity: 4 });
    return { producer: bus.producer(), consumer: bus.consumer() };
    // networked media also return teardown() (stop servers) and disconnect() (kill the writer)
  },
  capabilities: { ownership: 'reference', maxMessageBytes: false },
});

export {};
