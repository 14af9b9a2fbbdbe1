import type { Consumer, Producer, Target, Transport, TransportOptions } from '@harmonics/core';

/** What a build (Node or browser) plugs into {@link natsTransportFor}. */
export interface NatsBuild {
  /** The scheme the client connects with: `nats` in Node, `ws` in browsers (the server's WebSocket listener). */
  readonly connectScheme: string;
  producer(url: string, options: Record<string, unknown>): Producer;
  consumer(url: string, options: Record<string, unknown>): Consumer;
}

/** The target as the URL our constructors parse: `SCHEME://HOST:PORT/SUBJECT?params`. */
function urlOf(target: Target, scheme: string): string {
  const host = target.host!.includes(':') ? `[${target.host}]` : target.host!;
  const query = Object.entries(target.params)
    .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
    .join('&');
  return `${scheme}://${host}:${target.port}/${encodeURIComponent(target.path ?? '')}${query !== '' ? `?${query}` : ''}`;
}

/**
 * `nats://HOST:PORT/SUBJECT?stream=S&durable=D…` for `@harmonics/url`: the
 * query parameters are those of the README (stream, durable, queue, …).
 */
export function natsTransportFor(build: NatsBuild): Transport {
  return {
    name: '@harmonics/transport-nats',
    schemes: ['nats'],
    producer: async (target: Target, options: TransportOptions) => build.producer(urlOf(target, build.connectScheme), { ...options }),
    consumer: async (target: Target, options: TransportOptions) => build.consumer(urlOf(target, build.connectScheme), { ...options }),
  };
}
