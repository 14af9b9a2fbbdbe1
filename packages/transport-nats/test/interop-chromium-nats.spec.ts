// A page in real Chromium (Debian's) reads a JetStream stream over NATS's
// WebSocket listener with the package's browser build (bundled from its dist
// as an application would, through the `browser` export condition) and echoes
// each tensor to a second stream, which Node reads back bit for bit.
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { type NatsServer, everyDtypeSamples, expectSameTensor, sampleTensor, startNatsServer } from '@harmonics/conformance';
import { launchChromium } from '@harmonics/conformance/chromium';
import type { Tensor } from '@harmonics/core';
import { NatsConsumer, NatsProducer } from '@harmonics/transport-nats';

let server: NatsServer;
let browser: Browser | undefined;
let http: Server;
let bundleText: string;
let bundledInputs: string[];

beforeAll(async () => {
  server = await startNatsServer({ websocket: true });
  const out = await build({
    entryPoints: [join(__dirname, 'fixtures', 'nats-page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    absWorkingDir: join(__dirname, '..'),
    tsconfigRaw: '{}',
    metafile: true,
    logLevel: 'silent',
  });
  bundleText = out.outputFiles[0]!.text;
  bundledInputs = Object.keys(out.metafile.inputs);
  http = createServer((req, res) => {
    if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript', connection: 'close' }).end(bundleText);
    else
      res.writeHead(200, { 'content-type': 'text/html', connection: 'close' }).end('<!doctype html><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => http?.close(r));
  await server?.stop();
});

it('the page bundle is the browser build: wsconnect, no Node transport', () => {
  expect(bundledInputs.some((f) => /(^|\/)dist\/browser\.js$/.test(f))).toBe(true);
  expect(bundledInputs.some((f) => /transport-node/.test(f))).toBe(false);
});

it('a page consumes a stream over WebSocket (a chunked 3 MiB tensor among every dtype) and echoes it back bit-exact', async () => {
  const sent: Tensor[] = [...everyDtypeSamples(), sampleTensor('float32', [768, 1024], 11)];
  const writer = new NatsConsumer(`${server.url}/to.page?stream=TO_PAGE&createStream`);
  for (const t of sent) await writer.push(t);
  await writer.close();
  const back = new NatsProducer(`${server.url}/from.page?stream=FROM_PAGE&createStream`);
  await back.ready;

  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${(http.address() as { port: number }).port}/?ws=${encodeURIComponent(server.wsUrl!)}`);
  await page.waitForFunction(
    () => {
      const o = (window as unknown as { harmonicsNats?: { done: boolean; error?: string } }).harmonicsNats;
      return o !== undefined && (o.done || o.error !== undefined);
    },
    undefined,
    { timeout: 30_000 },
  );
  const outcome = await page.evaluate(() => (window as unknown as { harmonicsNats: unknown }).harmonicsNats);
  expect({ outcome, errors }).toEqual({ outcome: { done: true, echoed: sent.length }, errors: [] });

  const got: Tensor[] = [];
  for await (const t of back) got.push(t);
  expect(got).toHaveLength(sent.length);
  got.forEach((t, i) => expectSameTensor(t, sent[i]!));
  await page.close();
}, 60_000);
