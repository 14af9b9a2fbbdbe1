import type { ClientRequestArgs } from 'node:http';
import type { ConnectionOptions } from 'node:tls';
import WebSocket from 'ws';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  WebSocketChannelConsumer,
  type WebSocketChannelOptions,
  WebSocketChannelProducer,
  type WebSocketConsumerOptions,
  type WebSocketProducerOptions,
} from './channel.js';
import { keepAliveOf, nodeSocketAdapter } from './node-adapter.js';
import { splitArgs, targetUrl } from './target.js';
import { type Consumer, HarmonicsError, type Producer, type Target, type Transport } from '@harmonics/core';
import { DeferredConsumer, DeferredProducer } from '@harmonics/internal';
import { fastPathsOn } from '@harmonics/internal/node';
import { GATE } from './gate.js';
import { WebSocketServer, type WebSocketServerOptions } from './server.js';
import { wsTransportFor } from './url-transport.js';

/** Client options in Node (on top of the shared ones). */
export interface NodeClientOptions extends WebSocketChannelOptions {
  /** TLS for `wss://`: Node's `tls.connect` options, passed through. */
  tls?: ConnectionOptions;
  /** Extra HTTP headers of the upgrade request (auth tokens). */
  headers?: Record<string, string>;
  /**
   * Allow the fast paths on `ws` internals: small messages framed and written
   * to the socket by us, and cut from the socket's chunks in front of `ws`'s
   * parser; corked writes; the socket's own drain. Default true, or false
   * when the environment says `HARMONICS_FAST_PATHS=0`.
   * Either way they run only on the ws versions they were tested with
   * (`HARMONICS_FAST_PATHS=force` overrides that; `NODE_DEBUG=harmonics` says when).
   */
  fastPaths?: boolean;
}

function open(url: string, options: NodeClientOptions): WebSocket {
  const tls = options.tls ?? {};
  // ws hands these to https.request, hence to tls.connect (its typings name an old checkServerIdentity of its own).
  const init = {
    maxPayload: options.maxMessageBytes ?? 256 * 1024 * 1024,
    perMessageDeflate: false,
    headers: options.headers,
    handshakeTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, // covers the TCP/TLS connection and the upgrade
    ...tls,
  } as WebSocket.ClientOptions & ClientRequestArgs;
  return new WebSocket(url, init);
}

/**
 * Receives tensors from a WebSocket server, one record per binary message:
 * `new WebSocketProducer('ws://host:port/path', options?)` or `(host, port, path?, options?)`.
 */
export class WebSocketProducer extends WebSocketChannelProducer {
  readonly url: string;
  constructor(url: string, options?: WebSocketProducerOptions & NodeClientOptions);
  constructor(host: string, port: number, path?: string, options?: WebSocketProducerOptions & NodeClientOptions);
  constructor(a: string, b?: number | NodeClientOptions, c?: string | NodeClientOptions, d?: NodeClientOptions) {
    const { port, path, options } = splitArgs(a, b, c, d);
    const url = targetUrl(a, port, path, options.tls !== undefined);
    super(nodeSocketAdapter(open(url, options), url, keepAliveOf(options), fastPathsOn(options.fastPaths, GATE)), options);
    this.url = url;
  }
}

/**
 * Sends tensors to a WebSocket server, one record per binary message:
 * `new WebSocketConsumer('ws://host:port/path', options?)` or `(host, port, path?, options?)`.
 */
export class WebSocketConsumer extends WebSocketChannelConsumer {
  readonly url: string;
  constructor(url: string, options?: WebSocketConsumerOptions & NodeClientOptions);
  constructor(host: string, port: number, path?: string, options?: WebSocketConsumerOptions & NodeClientOptions);
  constructor(
    a: string,
    b?: number | (WebSocketConsumerOptions & NodeClientOptions),
    c?: string | (WebSocketConsumerOptions & NodeClientOptions),
    d?: WebSocketConsumerOptions & NodeClientOptions,
  ) {
    const { port, path, options } = splitArgs(a, b, c, d);
    const url = targetUrl(a, port, path, options.tls !== undefined);
    super(nodeSocketAdapter(open(url, options), url, keepAliveOf(options), fastPathsOn(options.fastPaths, GATE)), options);
    this.url = url;
  }
}

async function listenOnce(kind: 'producer' | 'consumer', target: Target, options: Record<string, unknown>): Promise<Producer | Consumer> {
  if (target.scheme === 'wss' && options.tls === undefined) {
    throw new HarmonicsError('ERR_INVALID_ARGUMENT', `${target.href}: a listening wss: target needs { tls: { key, cert } }`);
  }
  const server = await WebSocketServer.listen({ ...options, host: target.host, port: target.port, path: target.path } as WebSocketServerOptions);
  (options.onListening as ((address: { port: number }) => void) | undefined)?.({ port: server.port });
  const release = () => server.close();
  return kind === 'producer'
    ? new DeferredProducer((signal) => server.acceptProducer({ ...options, signal }), release, target.href)
    : new DeferredConsumer(
        (signal) => server.acceptConsumer({ ...options, signal }),
        release,
        target.href,
        (options.closeTimeoutMs as number | undefined) ?? 5000,
      );
}

/** `ws://` / `wss://` targets for `@harmonics/url` (Node: clients, and servers with `?listen`). */
export const wsTransport: Transport = /* @__PURE__ */ wsTransportFor({
  producer: (url, options) => new WebSocketProducer(url, options),
  consumer: (url, options) => new WebSocketConsumer(url, options),
  listen: listenOnce,
});
