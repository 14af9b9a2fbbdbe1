import type { ClientRequestArgs } from 'node:http';
import WebSocket from 'ws';
import {
  WebSocketChannelConsumer,
  type WebSocketChannelOptions,
  WebSocketChannelProducer,
  type WebSocketConsumerOptions,
  type WebSocketProducerOptions,
} from './channel.js';
import { nodeSocketAdapter } from './node-adapter.js';
import { splitArgs, targetUrl } from './target.js';

/** Client options in Node (on top of the shared ones). */
export interface NodeClientOptions extends WebSocketChannelOptions {
  /** TLS for `wss://`, as Node's `tls` takes it. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
  /** Extra HTTP headers of the upgrade request (auth tokens). */
  headers?: Record<string, string>;
  /** Give up connecting after this many ms. Default: the OS's TCP timeout. */
  connectTimeoutMs?: number;
}

function open(url: string, options: NodeClientOptions): WebSocket {
  const tls = options.tls ?? {};
  const init: WebSocket.ClientOptions & ClientRequestArgs = {
    maxPayload: options.maxMessageBytes ?? 256 * 1024 * 1024,
    perMessageDeflate: false,
    headers: options.headers,
    handshakeTimeout: options.connectTimeoutMs,
    ...tls,
  };
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
    super(nodeSocketAdapter(open(url, options), url), options);
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
  constructor(a: string, b?: number | (WebSocketConsumerOptions & NodeClientOptions), c?: string | (WebSocketConsumerOptions & NodeClientOptions), d?: WebSocketConsumerOptions & NodeClientOptions) {
    const { port, path, options } = splitArgs(a, b, c, d);
    const url = targetUrl(a, port, path, options.tls !== undefined);
    super(nodeSocketAdapter(open(url, options), url), options);
    this.url = url;
  }
}
