// from packages/url/README.md, block 2
import type { Transport } from '@harmonics/core';
import { MessageBus } from '@harmonics/bus';
import { makeConsumer, makeProducer } from '@harmonics/url';
import { wsTransport } from '@harmonics/transport-ws';

// A scheme of your own: `mem:NAME:1` is an in-process bus per name.
const buses = new Map<string, MessageBus>();
const bus = (name: string) => buses.get(name) ?? buses.set(name, new MessageBus()).get(name)!;
const mem: Transport = {
  name: 'my-app/mem',
  schemes: ['mem'],
  producer: async (target) => bus(target.host!).producer(),
  consumer: async (target) => bus(target.host!).consumer(),
};

const toStage2 = await makeConsumer('mem:stage2:1', { transports: [mem] });
const fromServer = await makeProducer('ws://127.0.0.1:8080/activations', { transports: [wsTransport] });

export {};
