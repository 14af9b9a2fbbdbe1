// A real browser: headless Chromium (Debian's) loads a page bundled from the
// package's browser entry, receives tensors from a Node WebSocketServer,
// computes, and sends the results back.
import { bundlePage, launchChromium, pageServer } from './fixtures/chromium';
import { tensor } from '@harmonics/core';
import { expectSameTensor } from '@harmonics/conformance';
import { WebSocketServer } from '@harmonics/transport-ws';
import { acceptPair } from './fixtures/accept';

it('Chromium receives float32 and int64 tensors, computes, and pushes the results back; the page holds no ws code', async () => {
  // Bundled the way an application would, through the package's export map (browser condition, built dist).
  const { code, inputs } = await bundlePage('page.ts');
  expect(inputs.filter((p) => /(^|\/)ws\/|node-adapter|bufferutil|node:/.test(p))).toEqual([]);
  expect(inputs).toContain('dist/browser.js'); // the browser entry, through the export map

  const { http, port } = await pageServer(code);
  const server = await WebSocketServer.listen({ server: http });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/`);
    // The page opens /down (to read) and then /up (to write).
    const [down, up] = await acceptPair(server, '/down');
    expect([down.request.url, up.request.url]).toEqual(['/down', '/up']);
    const toPage = down.consumer();
    const fromPage = up.producer();
    const a = tensor('float32', [2, 3], [1, -2.5, 3.25, 1e-3, -0, 65504]);
    const b = tensor('int64', [3], [9007199254740993n, -5n, 2n ** 62n]);
    await toPage.push(a);
    await toPage.push(b);
    const doubled = new Float32Array(6);
    (a.data as Float32Array).forEach((v, i) => (doubled[i] = Math.fround(Math.fround(v * 2) + 0.5)));
    expectSameTensor(await fromPage.next(), tensor('float32', [2, 3], doubled));
    expectSameTensor(await fromPage.next(), tensor('int64', [1], [9007199254740993n - 5n + 2n ** 62n]));
    expect(await fromPage.next()).toBeUndefined(); // the page closed cleanly
    await toPage.close();
    await page.waitForFunction(() => (window as unknown as { result?: string }).result !== undefined, undefined, { timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { result: string }).result)).toBe('done');
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
    await server.close({ closeConnections: true });
    await new Promise((r) => http.close(r));
  }
}, 60_000);
