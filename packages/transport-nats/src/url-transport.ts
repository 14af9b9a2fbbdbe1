import type { Consumer, Producer, Target, Transport, TransportOptions } from '@harmonics/core';

/** What a build (Node or browser) plugs into {@link natsTransportFor}. */
export interface NatsBuild {
  producer(url: string, options: Record<string, unknown>): Producer;
  consumer(url: string, options: Record<string, unknown>): Consumer;
}

/**
 * `nats://HOST:PORT/SUBJECT?stream=S&durable=D…` (and `tls://`) for
 * `@harmonics/url`; in browsers `ws://`/`wss://` belong to transport-ws, so
 * NATS over WebSocket is reached with `{ servers }` or the classes.
 */
export function natsTransportFor(build: NatsBuild): Transport {
  const url = (target: Target): string => target.href;
  return {
    name: '@harmonics/transport-nats',
    schemes: ['nats'],
    producer: async (target: Target, options: TransportOptions) => build.producer(url(target), { ...options }),
    consumer: async (target: Target, options: TransportOptions) => build.consumer(url(target), { ...options }),
  };
}
