// The shared conformance suite for ports, ring and shared bus in real
// Chromium (Debian's): the page (fixtures/worker-page.ts, bundled from the
// package's dist as an application would) makes, for each pair, a dedicated
// worker that relays (fixtures/browser-relay.ts) or hosts a SharedBus
// (fixtures/browser-bus.ts), plus the page-side Consumer that feeds it and
// Producer that reads it; the suite drives those two over the page bridge.
// The page is served cross-origin isolated (COOP/COEP), which the ring's
// SharedArrayBuffer needs. The vanishing peer is the worker failing with an
// uncaught error: browsers tell the page through the Worker's `error` event.
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { PageConsumer, PageProducer, type TransportCapabilities, actInPage, openInPage, runTransportSuite } from '@harmonics/conformance';
import { launchChromium } from '@harmonics/conformance/chromium';

let browser: Browser | undefined;
let page: Page;
let http: Server;

async function bundle(entry: string, format: 'esm' | 'iife'): Promise<string> {
  const out = await build({
    entryPoints: [join(__dirname, 'fixtures', entry)],
    bundle: true,
    write: false,
    format,
    platform: 'browser',
    absWorkingDir: join(__dirname, '..'),
    tsconfigRaw: '{}',
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

beforeAll(async () => {
  const files: Record<string, string> = {
    '/page.js': await bundle('worker-page.ts', 'esm'),
    '/relay.js': await bundle('browser-relay.ts', 'iife'),
    '/bus.js': await bundle('browser-bus.ts', 'iife'),
  };
  // Cross-origin isolation: every response says so, the page and the workers' scripts. Each
  // connection closes after its response, so a worker script fetched during a test leaves no
  // socket behind for the suite's check of this process's handles.
  const isolated = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', connection: 'close' };
  http = createServer((req, res) => {
    const js = files[req.url ?? ''];
    if (js !== undefined) res.writeHead(200, { ...isolated, 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(200, { ...isolated, 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(http.address() as { port: number }).port}/`);
  await page.waitForFunction(() => (window as unknown as { harmonics?: unknown }).harmonics !== undefined);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => http?.close(r));
});

it('the page is cross-origin isolated, so SharedArrayBuffer exists', async () => {
  expect(await actInPage(page, 'isolated')).toBe(true);
});

type Spec = { from: 'port' | 'ring' | 'bus'; to?: 'port' | 'ring' };

function pairIn(spec: Spec) {
  return async ({ maxMessageBytes }: { maxMessageBytes?: number } = {}) => {
    const ends = await openInPage<{ pair: number; producers: number[]; consumers: number[] }>(page, { ...spec, maxMessageBytes });
    return {
      producer: new PageProducer(page, ends.producers[0]!),
      consumer: new PageConsumer(page, ends.consumers[0]!),
      disconnect: async () => void (await actInPage(page, 'crash', ends.pair)),
      teardown: async () => void (await actInPage(page, 'terminate', ends.pair)),
    };
  };
}

const MiB = 1024 * 1024;
const capabilities: TransportCapabilities = {
  // Tensors cross the bridge as copies, so a mutation after push() could not reach the page's tensor.
  ownership: 'bridged',
  // 64 MiB tensors work in Node's worker suites; through the bridge they would cost base64 both ways.
  largeTensors: false,
  peerLoss: true,
  peerLossCodes: ['ERR_CONNECTION_LOST'],
};
// Every push and next() here is a round trip to the page (page.evaluate): 10,000 tensors take about
// 50 s on a quiet 2-core machine, too close to the suite's default 60 s once the machine is busy.
const timeoutMs = 180_000;

runTransportSuite({
  name: 'Chromium: PortConsumer → dedicated worker → PortProducer',
  timeoutMs,
  setup: pairIn({ from: 'port', to: 'port' }),
  capabilities: { ...capabilities, backpressure: { maxBufferedBytes: 2 * 64 * MiB + 2 * MiB } },
});

runTransportSuite({
  name: 'Chromium: RingConsumer → dedicated worker → RingProducer (cross-origin isolated)',
  timeoutMs,
  setup: pairIn({ from: 'ring', to: 'ring' }),
  capabilities,
});

runTransportSuite({
  name: 'Chromium: SharedBus in a dedicated worker',
  timeoutMs,
  setup: pairIn({ from: 'bus' }),
  capabilities: { ...capabilities, backpressure: { maxBufferedBytes: 4 * MiB + 64 * 65 * 1024 + 64 * MiB + 2 * MiB } },
});
