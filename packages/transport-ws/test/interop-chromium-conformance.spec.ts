// The shared conformance suite, run against the browser WebSocket adapter in
// real Chromium (Debian's): the page (fixtures/conformance-page.ts, bundled
// from the package's browser entry) holds real browser WebSocketProducer /
// WebSocketConsumer objects, and the Producer/Consumer the suite drives here
// (@harmonics/conformance's page bridge) forward each call to them as it
// comes, overlapping calls and aborts included. The other end is a Node
// WebSocketServer.
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { PageConsumer, PageProducer, openInPage, runClientLivenessCases, runTransportSuite } from '@harmonics/conformance';
import type { Consumer, Producer } from '@harmonics/core';
import { WebSocketServer } from '@harmonics/transport-ws';
import { bundlePage, launchChromium, pageServer } from './fixtures/chromium';

let browser: Browser | undefined;
let page: Page;
let http: Server;
let origin: string;

/** Open a browser WebSocketProducer or WebSocketConsumer in the page; returns its id on the bridge. */
async function open(
  kind: 'producer' | 'consumer',
  url: string,
  options: { maxMessageBytes?: number; connectTimeoutMs?: number } = {},
): Promise<number> {
  const ends = await openInPage<{ producers: number[]; consumers: number[] }>(page, { kind, url, options });
  return kind === 'producer' ? ends.producers[0]! : ends.consumers[0]!;
}

beforeAll(async () => {
  const { code } = await bundlePage('conformance-page.ts');
  let port: number;
  ({ http, port } = await pageServer(code));
  origin = `http://127.0.0.1:${port}`;
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => (window as unknown as { harmonics?: unknown }).harmonics !== undefined);
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
    const consumer = new PageConsumer(page, await open('consumer', `ws://127.0.0.1:${server.port}/`, { maxMessageBytes }));
    const producer = await server.acceptProducer();
    return { producer, consumer, teardown: () => server.close({ closeConnections: true }) };
  },
  capabilities,
});

runTransportSuite({
  name: 'WebSocketServer (Node) → WebSocketProducer in Chromium',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await WebSocketServer.listen({ maxMessageBytes, origins: [origin] });
    const producer = new PageProducer(page, await open('producer', `ws://127.0.0.1:${server.port}/`, { maxMessageBytes }));
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
  producer: (port, options) => lazily(async () => new PageProducer(page, await open('producer', `ws://127.0.0.1:${port}/`, options))),
  consumer: (port, options) => lazily(async () => new PageConsumer(page, await open('consumer', `ws://127.0.0.1:${port}/`, options))),
  server: async () => {
    throw new Error('not used: the browser has no way to notice a silent peer');
  },
  fastLiveness: {},
  // Browsers expose no WebSocket ping: a page notices a silent server only when the OS gives up on the TCP connection.
  silentPeer: false,
});
