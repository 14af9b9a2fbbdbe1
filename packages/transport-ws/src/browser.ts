// Browser entry (the `browser` export condition): the page's own WebSocket.
// Nothing here imports `ws` or a Node built-in.
import { HarmonicsError, type Transport } from '@harmonics/core';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  type SocketAdapter,
  WebSocketChannelConsumer,
  WebSocketChannelProducer,
  type WebSocketConsumerOptions,
  type WebSocketProducerOptions,
} from './channel.js';
import { splitArgs, targetUrl } from './target.js';
import { wsTransportFor } from './url-transport.js';

export * from './channel.js';

/** Adapter for the WHATWG WebSocket of browsers (and Deno, Bun, Node 22's global). */
export function browserSocketAdapter(ws: WebSocket, where: string = ws.url, connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): SocketAdapter {
  ws.binaryType = 'arraybuffer';
  let wasOpen = ws.readyState === 1;
  let connectTimer: ReturnType<typeof setTimeout> | undefined;
  const opened = new Promise<void>((resolve, reject) => {
    if (wasOpen) resolve();
    else {
      // Browsers put no limit on the opening handshake: a server that accepts and never answers would be waited on forever.
      connectTimer = setTimeout(() => {
        reject(
          new HarmonicsError('ERR_CONNECT', `cannot connect to ${where}: no WebSocket upgrade within ${connectTimeoutMs} ms (connectTimeoutMs)`),
        );
        ws.close();
      }, connectTimeoutMs);
    }
    ws.addEventListener('open', () => {
      clearTimeout(connectTimer);
      wasOpen = true;
      resolve();
    });
    ws.addEventListener('close', () => {
      clearTimeout(connectTimer);
      reject(
        new HarmonicsError(
          'ERR_CONNECT',
          `cannot connect to ${where}: the WebSocket closed before it opened (the browser gives no reason; check the address and the server's origin policy)`,
        ),
      );
    });
  });
  opened.catch(() => undefined);
  let drain: (() => void) | undefined;
  let polling: ReturnType<typeof setInterval> | undefined;
  const poll = (): void => {
    drain?.();
    if (ws.bufferedAmount === 0 || ws.readyState > 1) {
      clearInterval(polling);
      polling = undefined;
    }
  };
  return {
    where,
    opened,
    onMessage: (fn) =>
      ws.addEventListener('message', (e: MessageEvent) => fn(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer))),
    onClose: (fn) =>
      ws.addEventListener('close', (e: CloseEvent) =>
        fn(e.code, e.reason, wasOpen ? undefined : new HarmonicsError('ERR_CONNECT', `cannot connect to ${where}`)),
      ),
    send(data, done) {
      try {
        ws.send(data);
      } catch (err) {
        done(err as Error);
        return;
      }
      // Browsers have no drain event: watch bufferedAmount while anything is buffered.
      if (polling === undefined && ws.bufferedAmount > 0) polling = setInterval(poll, 5);
      done();
    },
    bufferedAmount: () => ws.bufferedAmount,
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.close(),
    onDrain: (fn) => (drain = fn),
  };
}

/** Receives tensors from a WebSocket server: `new WebSocketProducer('ws://host:port/path')` or `(host, port, path?)`. */
export class WebSocketProducer extends WebSocketChannelProducer {
  constructor(url: string, options?: WebSocketProducerOptions);
  constructor(host: string, port: number, path?: string, options?: WebSocketProducerOptions);
  constructor(a: string, b?: number | WebSocketProducerOptions, c?: string | WebSocketProducerOptions, d?: WebSocketProducerOptions) {
    const { port, path, options } = splitArgs(a, b, c, d);
    const url = targetUrl(a, port, path, globalThis.location?.protocol === 'https:');
    super(browserSocketAdapter(new WebSocket(url), url, options.connectTimeoutMs), options);
  }
}

/** Sends tensors to a WebSocket server: `new WebSocketConsumer('ws://host:port/path')` or `(host, port, path?)`. */
export class WebSocketConsumer extends WebSocketChannelConsumer {
  constructor(url: string, options?: WebSocketConsumerOptions);
  constructor(host: string, port: number, path?: string, options?: WebSocketConsumerOptions);
  constructor(a: string, b?: number | WebSocketConsumerOptions, c?: string | WebSocketConsumerOptions, d?: WebSocketConsumerOptions) {
    const { port, path, options } = splitArgs(a, b, c, d);
    const url = targetUrl(a, port, path, globalThis.location?.protocol === 'https:');
    super(browserSocketAdapter(new WebSocket(url), url, options.connectTimeoutMs), options);
  }
}

/** `ws://` / `wss://` targets for `@harmonics/url` in browsers (clients only). */
export const wsTransport: Transport = /* @__PURE__ */ wsTransportFor({
  producer: (url, options) => new WebSocketProducer(url, options),
  consumer: (url, options) => new WebSocketConsumer(url, options),
});
