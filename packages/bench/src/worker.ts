// Worker rows: a worker thread sends, this thread receives, beside raw
// postMessage between the same two threads in the same run.
import { join } from 'node:path';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { type Producer } from '@harmonics/core';
import { PortProducer, RingProducer, SharedBus, createRing } from '@harmonics/transport-worker';
import { type Case, sink } from './harness.js';

const KiB = 1024;
const MiB = 1024 * 1024;

class Peer {
  readonly worker = new Worker(join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'worker-peer.js'));
  /** The next message from the worker. */
  reply<T = unknown>(): Promise<T> {
    return new Promise((resolve) => this.worker.once('message', resolve));
  }
  post(cmd: object, transfer: MessagePort[] = []): void {
    this.worker.postMessage(cmd, transfer);
  }
}

/** A worker set up to post raw messages, and this thread's end of its channel. */
async function rawPeerAndPort(): Promise<{ peer: Peer; port: MessagePort }> {
  const peer = new Peer();
  const { port1, port2 } = new MessageChannel();
  const ready = peer.reply();
  peer.post({ op: 'raw', port: port2 }, [port2]);
  await ready;
  return { peer, port: port1 };
}

/** Raw postMessage: the worker posts `n` messages of `bytes` (copies, or fresh buffers by transfer); this thread counts them. */
function rawRun(peer: Peer, port: MessagePort, bytes: number, fresh: boolean) {
  return async (n: number): Promise<number> => {
    const got = new Promise<void>((resolve) => {
      let seen = 0;
      const on = (m: ArrayBufferView): void => {
        sink.value += m.byteLength;
        if (++seen === n) {
          port.off('message', on);
          resolve();
        }
      };
      port.on('message', on);
    });
    const sent = peer.reply();
    peer.post({ op: 'send', n, bytes, fresh });
    await Promise.all([got, sent]);
    return n * bytes;
  };
}

/** Read `n` tensors from `producer` while the worker sends them. */
function harmonicsRun(peer: Peer, producer: () => Producer, bytes: number, fresh: boolean) {
  return async (n: number): Promise<number> => {
    const p = producer();
    const sent = peer.reply();
    peer.post({ op: 'send', n, bytes, fresh });
    for (let i = 0; i < n; i++) sink.value += (await p.next())!.data.length;
    await sent;
    return n * bytes;
  };
}

/** One medium between a fresh worker and this thread, for the whole case. */
function pairCase(
  name: string,
  bytes: number,
  fresh: boolean,
  iterations: number,
  baseline: string,
  note: string,
  open: (peer: Peer) => Producer,
): Case {
  let peer: Peer | undefined;
  let rawPeer: Peer | undefined;
  let producer: Producer | undefined;
  let rawPort: MessagePort | undefined;
  return {
    name,
    unit: 'MB/s',
    baseline,
    note,
    iterations,
    setup: async () => {
      peer = new Peer();
      const opened = peer.reply();
      producer = open(peer);
      await opened;
      ({ peer: rawPeer, port: rawPort } = await rawPeerAndPort());
    },
    subject: (n) => harmonicsRun(peer!, () => producer!, bytes, fresh)(n),
    reference: (n) => rawRun(rawPeer!, rawPort!, bytes, fresh)(n),
    teardown: async () => {
      await producer?.close();
      rawPort?.close();
      await Promise.all([peer?.worker.terminate(), rawPeer?.worker.terminate()]);
    },
  };
}

export function workerCases(): Case[] {
  const copies = 'raw postMessage of 1 KiB copies, worker → main';
  return [
    pairCase(
      'worker.transfer.4MiB',
      4 * MiB,
      true,
      256,
      'raw postMessage of fresh 4 MiB buffers by transfer, worker → main',
      'PortConsumer (transfer) → PortProducer; both sides allocate a fresh buffer a message',
      (peer) => {
        const { port1, port2 } = new MessageChannel();
        peer.post({ op: 'port', port: port2, copy: false }, [port2]);
        return new PortProducer(port1);
      },
    ),
    pairCase('worker.port.1KiB', KiB, false, 50_000, copies, 'PortConsumer (copies the same tensor) → PortProducer', (peer) => {
      const { port1, port2 } = new MessageChannel();
      peer.post({ op: 'port', port: port2, copy: true }, [port2]);
      return new PortProducer(port1);
    }),
    pairCase('worker.ring.1KiB', KiB, false, 50_000, copies, 'RingConsumer → RingProducer, 1 MiB ring', (peer) => {
      const ring = createRing({ capacityBytes: MiB });
      peer.post({ op: 'ring', ring });
      return new RingProducer(ring);
    }),
    busCase(copies),
  ];
}

/** One writer worker → SharedBus in this thread → 4 reader workers; the bus is made anew for each run so that it ends. */
function busCase(baseline: string): Case {
  const readers = 4;
  let writer: Peer | undefined;
  let readerPeers: Peer[] = [];
  let rawPeer: Peer | undefined;
  let rawPort: MessagePort | undefined;
  return {
    name: 'worker.bus.1KiB',
    unit: 'MB/s',
    baseline,
    note: `1 writer worker → SharedBus (main thread) → ${readers} reader workers`,
    iterations: 50_000,
    setup: async () => {
      writer = new Peer();
      readerPeers = Array.from({ length: readers }, () => new Peer());
      ({ peer: rawPeer, port: rawPort } = await rawPeerAndPort());
    },
    subject: async (n) => {
      const bus = new SharedBus();
      const counts = readerPeers.map((peer) => {
        const port = bus.readerPort() as MessagePort;
        peer.post({ op: 'read', port, windowBytes: 256 * KiB }, [port]);
        return peer.reply<number>();
      });
      const port = bus.writerPort() as MessagePort;
      const opened = writer!.reply();
      writer!.post({ op: 'port', port, copy: true }, [port]);
      await opened;
      const sent = writer!.reply();
      writer!.post({ op: 'send', n, bytes: KiB, fresh: false, close: true });
      await sent;
      await bus.end();
      const got = (await Promise.all(counts)).reduce((a, b) => a + b, 0);
      if (got !== n) throw new Error(`worker.bus: readers got ${got} of ${n}`);
      return n * KiB;
    },
    reference: (n) => rawRun(rawPeer!, rawPort!, KiB, false)(n),
    teardown: async () => {
      rawPort?.close();
      await Promise.all([writer, rawPeer, ...readerPeers].map((p) => p?.worker.terminate()));
    },
  };
}
