// The shared conformance suite for the worker transports, with the peer in a
// real worker thread: the suite drives a Consumer and a Producer in this
// thread, and a relay worker (fixtures/relay-worker.ts) reads every tensor the
// Consumer sends and writes it on toward the Producer. Killing the worker is
// the vanishing peer.
import { MessageChannel } from 'node:worker_threads';
import { runTransportSuite, type SetupOptions, type TransportPair } from '@harmonics/conformance';
import { type AbortOptions, type Consumer, type Tensor } from '@harmonics/core';
import { PortConsumer, PortProducer, RingConsumer, RingProducer, createRing } from '@harmonics/transport-worker';
import { startWorker } from './fixtures/workers';

type Side = 'port' | 'ring';

/** The consumer the suite drives, and the input the relay reads from. */
function writeEnd(kind: Side, o: SetupOptions, copy: boolean): { consumer: Consumer; input: object; transfer: MessagePort[] } {
  if (kind === 'port') {
    const { port1, port2 } = new MessageChannel();
    return { consumer: new PortConsumer(port1, { maxMessageBytes: o.maxMessageBytes, copy }), input: { port: port2 }, transfer: [port2 as never] };
  }
  const ring = createRing({ capacityBytes: 256 * 1024 });
  return { consumer: new RingConsumer(ring, { maxMessageBytes: o.maxMessageBytes }), input: { ring }, transfer: [] };
}

async function relayPair(from: Side, to: Side, o: SetupOptions = {}, copy = true): Promise<TransportPair> {
  const w = writeEnd(from, o, copy);
  let producer: TransportPair['producer'];
  let output: object;
  const transfer = [...w.transfer];
  const { worker, exited } = (() => {
    if (to === 'port') {
      const { port1, port2 } = new MessageChannel();
      output = { port: port2 };
      transfer.push(port2 as never);
      const started = startWorker('relay-worker.ts', {
        workerData: { input: w.input, output, maxMessageBytes: o.maxMessageBytes },
        transferList: transfer as never,
      });
      producer = new PortProducer(port1, { maxMessageBytes: o.maxMessageBytes });
      return started;
    }
    const ring = createRing({ capacityBytes: 256 * 1024 });
    output = { ring };
    const started = startWorker('relay-worker.ts', {
      workerData: { input: w.input, output, maxMessageBytes: o.maxMessageBytes },
      transferList: transfer as never,
    });
    producer = new RingProducer(ring, { maxMessageBytes: o.maxMessageBytes, peer: started.worker });
    return started;
  })();
  return {
    producer: producer!,
    consumer: w.consumer,
    disconnect: async () => {
      await worker.terminate();
    },
    teardown: async () => {
      await worker.terminate();
      await exited;
    },
  };
}

/**
 * A consumer that hands the transport a fresh whole-buffer copy of each
 * tensor, so the transfer path runs (the copy is detached, not the suite's
 * tensor, which the suite compares with what arrives).
 */
class Transferring implements Consumer {
  constructor(private readonly inner: Consumer) {}
  push(t: Tensor, options?: AbortOptions): Promise<void> {
    return this.inner.push({ ...t, data: t.data.slice() } as Tensor, options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const common = { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] };
const MiB = 1024 * 1024;
// What a stalled reader lets pile up: each port hop holds up to its reader's
// credit window (64 MiB by default) plus one tensor; a ring holds its capacity
// (256 KiB here); the relay holds one tensor.
const portPort = { ...common, backpressure: { maxBufferedBytes: 2 * 64 * MiB + 2 * MiB } };
const ringPort = { ...common, backpressure: { maxBufferedBytes: 64 * MiB + 2 * MiB } };

runTransportSuite({
  name: 'PortConsumer (copy) → worker → PortProducer',
  setup: (o) => relayPair('port', 'port', o, true),
  capabilities: portPort,
});

runTransportSuite({
  name: 'PortConsumer (transfer) → worker → PortProducer',
  setup: async (o) => {
    const pair = await relayPair('port', 'port', o, false);
    return { ...pair, consumer: new Transferring(pair.consumer) };
  },
  // The suite's reuse check mutates the pushed tensor, which a transfer detaches; the copy suite above covers it.
  capabilities: { ...portPort, ownership: 'reference' },
});

runTransportSuite({
  name: 'RingConsumer → worker → RingProducer',
  setup: (o) => relayPair('ring', 'ring', o),
  capabilities: common,
});

runTransportSuite({
  name: 'RingConsumer → worker → PortProducer',
  setup: (o) => relayPair('ring', 'port', o),
  capabilities: ringPort,
});

runTransportSuite({
  name: 'SharedBus in a worker: PortConsumer → bus → PortProducer',
  setup: async (o = {}) => {
    // A stalled reader lets pile up: the bus's 4 MiB credit to the writer, its capacity (64 tensors here), the reader's 64 MiB window.
    const { worker, exited } = startWorker('bus-worker.ts', { workerData: { capacity: 64 } });
    const ports = await new Promise<{ writers: MessagePort[]; readers: MessagePort[] }>((resolve) => worker.once('message', resolve));
    return {
      consumer: new PortConsumer(ports.writers[0]!, { maxMessageBytes: o.maxMessageBytes, copy: true }),
      producer: new PortProducer(ports.readers[0]!, { maxMessageBytes: o.maxMessageBytes }),
      disconnect: async () => {
        await worker.terminate();
      },
      teardown: async () => {
        await worker.terminate();
        await exited;
      },
    };
  },
  capabilities: { ...common, backpressure: { maxBufferedBytes: 4 * MiB + 64 * 65 * 1024 + 64 * MiB + 2 * MiB } },
});
