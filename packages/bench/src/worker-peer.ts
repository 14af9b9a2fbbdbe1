// The worker side of the worker bench rows (src/worker.ts). Commands:
// - 'port' / 'ring' / 'raw': the medium the next 'send' uses;
// - 'send': send `n` tensors of `bytes` (fresh buffers when `fresh`, else the
//   same one again, copied by the medium), then close the medium when `close`;
// - 'read': read a bus reader port to its end and post back how many came.
import { type MessagePort, parentPort } from 'node:worker_threads';
import { type Consumer, tensor } from '@harmonics/core';
import { PortConsumer, PortProducer, RingConsumer } from '@harmonics/transport-worker';

type Command =
  | { op: 'port'; port: MessagePort; copy: boolean }
  | { op: 'ring'; ring: SharedArrayBuffer }
  | { op: 'raw'; port: MessagePort }
  | { op: 'send'; n: number; bytes: number; fresh: boolean; close?: boolean }
  | { op: 'read'; port: MessagePort; windowBytes: number };

let consumer: Consumer | undefined;
let raw: MessagePort | undefined;

async function send(n: number, bytes: number, fresh: boolean, close: boolean): Promise<void> {
  const elements = bytes / 4;
  if (raw !== undefined) {
    // The raw medium: postMessage of a copy (structured clone), or of a fresh buffer by transfer.
    const same = new Uint8Array(bytes);
    for (let i = 0; i < n; i++) {
      if (fresh) {
        const f = new Float32Array(elements);
        raw.postMessage(f, [f.buffer]);
      } else raw.postMessage(same);
    }
    return;
  }
  const same = tensor('float32', [elements]);
  for (let i = 0; i < n; i++) await consumer!.push(fresh ? tensor('float32', [elements]) : same);
  if (close) await consumer!.close();
}

parentPort!.on('message', (cmd: Command) => {
  void (async () => {
    if (cmd.op === 'port') [consumer, raw] = [new PortConsumer(cmd.port, { copy: cmd.copy }), undefined];
    else if (cmd.op === 'ring') [consumer, raw] = [new RingConsumer(cmd.ring), undefined];
    else if (cmd.op === 'raw') [consumer, raw] = [undefined, cmd.port];
    else if (cmd.op === 'send') await send(cmd.n, cmd.bytes, cmd.fresh, cmd.close === true);
    else {
      const producer = new PortProducer(cmd.port, { windowBytes: cmd.windowBytes });
      let n = 0;
      for await (const t of producer) n += t.data.length > 0 ? 1 : 0;
      parentPort!.postMessage(n);
      return;
    }
    parentPort!.postMessage('ok');
  })();
});
