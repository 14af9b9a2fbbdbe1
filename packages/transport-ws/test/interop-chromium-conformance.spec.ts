// The shared conformance suite, run against the browser WebSocket adapter in
// real Chromium (Debian's): the page (fixtures/conformance-page.ts, bundled
// from the package's browser entry) holds real browser WebSocketProducer /
// WebSocketConsumer objects, and the Producer/Consumer the suite drives here
// forward each call to them as it comes, overlapping calls and aborts
// included. The other end is a Node WebSocketServer.
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { runClientLivenessCases, runTransportSuite } from '@harmonics/conformance';
import { type AbortOptions, type Consumer, HarmonicsError, type Producer, type Tensor, decodeTensor, encodeTensor } from '@harmonics/core';
import { WebSocketServer } from '@harmonics/transport-ws';
import { bundlePage, launchChromium, pageServer } from './fixtures/chromium';

type Outcome = { ok: true; record?: string; end?: boolean } | { ok: false; code?: string; message: string };
interface Bridge {
  open(kind: 'producer' | 'consumer', url: string, options: { maxMessageBytes?: number; connectTimeoutMs?: number }): number;
  next(id: number, call: number, aborted: boolean): Promise<Outcome>;
  abort(call: number): void;
  push(id: number, record: string, call: number, aborted: boolean): Promise<Outcome>;
  close(id: number): Promise<Outcome>;
}
type Win = { harmonics: Bridge };

let browser: Browser | undefined;
let page: Page;
let http: Server;
let origin: string;
let calls = 0;

function settled(o: Outcome, what: string): Outcome & { ok: true } {
  if (o.ok) return o;
  if (o.code !== undefined) throw new HarmonicsError(o.code as never, `${what} in Chromium: ${o.message}`);
  throw new Error(`${what} in Chromium: ${o.message}`);
}

/** Forward an abort of `signal` to the page's call `call`; returns the detach function. */
function forwardAbort(signal: AbortSignal | undefined, call: number): () => void {
  if (signal === undefined) return () => undefined;
  const onAbort = (): void => void page.evaluate((c) => (window as unknown as Win).harmonics.abort(c), call).catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** A Producer whose calls run on a browser WebSocketProducer in the page. */
class PageProducer implements Producer {
  constructor(private readonly id: number) {}

  async next(options?: AbortOptions): Promise<Tensor | undefined> {
    const call = ++calls;
    const aborted = options?.signal?.aborted === true;
    const pending = page.evaluate(([id, c, a]) => (window as unknown as Win).harmonics.next(id, c, a), [this.id, call, aborted] as const);
    const detach = forwardAbort(options?.signal, call);
    try {
      const o = settled(await pending, 'next()');
      return o.end === true ? undefined : decodeTensor(Buffer.from(o.record!, 'base64'));
    } finally {
      detach();
    }
  }

  async close(): Promise<void> {
    settled(await page.evaluate((id) => (window as unknown as Win).harmonics.close(id), this.id), 'close()');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Tensor> {
    try {
      for (let t = await this.next(); t !== undefined; t = await this.next()) yield t;
    } finally {
      await this.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A Consumer whose calls run on a browser WebSocketConsumer in the page. */
class PageConsumer implements Consumer {
  constructor(private readonly id: number) {}

  async push(t: Tensor, options?: AbortOptions): Promise<void> {
    const call = ++calls;
    const record = Buffer.from(encodeTensor(t)).toString('base64');
    const aborted = options?.signal?.aborted === true;
    const pending = page.evaluate(([id, r, c, a]) => (window as unknown as Win).harmonics.push(id, r, c, a), [
      this.id,
      record,
      call,
      aborted,
    ] as const);
    const detach = forwardAbort(options?.signal, call);
    try {
      settled(await pending, 'push()');
    } finally {
      detach();
    }
  }

  async close(): Promise<void> {
    settled(await page.evaluate((id) => (window as unknown as Win).harmonics.close(id), this.id), 'close()');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function open(
  kind: 'producer' | 'consumer',
  url: string,
  options: { maxMessageBytes?: number; connectTimeoutMs?: number } = {},
): Promise<number> {
  return page.evaluate(([k, u, o]) => (window as unknown as Win).harmonics.open(k, u, o), [kind, url, options] as const);
}

beforeAll(async () => {
  const { code } = await bundlePage('conformance-page.ts');
  let port: number;
  ({ http, port } = await pageServer(code));
  origin = `http://127.0.0.1:${port}`;
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => (window as unknown as Partial<Win>).harmonics !== undefined);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => http?.close(r));
});

const capabilities = {
  // Tensors cross the bridge as copies, so a mutation after push() could not reach the page's tensor.
  ownership: 'bridged',
  // 64 MiB tensors work (interop-chromium.spec.ts's page is not limited), but through the bridge they cost base64 both ways.
  largeTensors: false,
} as const;

runTransportSuite({
  name: 'WebSocketConsumer in Chromium → WebSocketServer (Node)',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await WebSocketServer.listen({ maxMessageBytes, origins: [origin] });
    const consumer = new PageConsumer(await open('consumer', `ws://127.0.0.1:${server.port}/`, { maxMessageBytes }));
    const producer = await server.acceptProducer();
    return { producer, consumer, teardown: () => server.close({ closeConnections: true }) };
  },
  capabilities,
});

runTransportSuite({
  name: 'WebSocketServer (Node) → WebSocketProducer in Chromium',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await WebSocketServer.listen({ maxMessageBytes, origins: [origin] });
    const producer = new PageProducer(await open('producer', `ws://127.0.0.1:${server.port}/`, { maxMessageBytes }));
    const consumer = await server.acceptConsumer();
    return {
      producer,
      consumer,
      // The writer vanishes: its TCP connection is cut without a close frame.
      disconnect: async () => (consumer as unknown as { adapter: { terminate(): void } }).adapter.terminate(),
      teardown: () => server.close({ closeConnections: true }),
    };
  },
  // The browser's WebSocket API has no read backpressure: it takes every
  // message as it arrives (WebSocketStream, which has, is not used yet), so a
  // page that stops reading holds what the server sends.
  capabilities: { ...capabilities, backpressure: false, peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] },
});

/** A page-side client created lazily: the suite's factories are synchronous, the bridge is not. */
function lazily<T extends Producer | Consumer>(make: () => Promise<T>): T {
  const ready = make();
  return new Proxy({} as T, {
    get: (_, key) =>
      key === 'then'
        ? undefined
        : (...args: unknown[]) => ready.then((side) => (side as unknown as Record<PropertyKey, (...a: unknown[]) => unknown>)[key](...args)),
  });
}

runClientLivenessCases('WebSocketProducer / WebSocketConsumer in Chromium', {
  producer: (port, options) => lazily(async () => new PageProducer(await open('producer', `ws://127.0.0.1:${port}/`, options))),
  consumer: (port, options) => lazily(async () => new PageConsumer(await open('consumer', `ws://127.0.0.1:${port}/`, options))),
  server: async () => {
    throw new Error('not used: the browser has no way to notice a silent peer');
  },
  fastLiveness: {},
  // Browsers expose no WebSocket ping: a page notices a silent server only when the OS gives up on the TCP connection.
  silentPeer: false,
});
