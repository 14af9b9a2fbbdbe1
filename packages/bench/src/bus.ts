import { MessageBus } from '@harmonics/bus';
import { type Tensor, tensor } from '@harmonics/core';
import { type Case, sink } from './harness.js';

/** The bare medium: an array queue with the same async push/next shape and a waiting reader. */
class ArrayQueue {
  private items: Tensor[] = [];
  private head = 0;
  private waiter: ((t: Tensor) => void) | undefined;

  push(t: Tensor): Promise<void> {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(t);
    } else this.items.push(t);
    return Promise.resolve();
  }

  next(): Promise<Tensor> {
    if (this.head < this.items.length) {
      const t = this.items[this.head++];
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      }
      return Promise.resolve(t);
    }
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

export function busCases(): Case[] {
  const t = tensor('float32', [4]);
  return [
    {
      name: 'bus.handoff',
      unit: 'ops/s',
      baseline: 'array queue with async push/next',
      note: 'one writer and one reader task, capacity 1024',
      iterations: 1_000_000,
      subject: async (n) => {
        const bus = new MessageBus({ capacity: 1024 });
        const c = bus.consumer();
        const p = bus.producer();
        const writing = (async () => {
          for (let i = 0; i < n; i++) await c.push(t);
        })();
        for (let i = 0; i < n; i++) sink.value += (await p.next())!.data.length;
        await writing;
        return n;
      },
      reference: async (n) => {
        const q = new ArrayQueue();
        const writing = (async () => {
          for (let i = 0; i < n; i++) await q.push(t);
        })();
        for (let i = 0; i < n; i++) sink.value += (await q.next()).data.length;
        await writing;
        return n;
      },
    },
  ];
}
