// Chromium with 4 MiB messages and a burst of 10,000 messages of 1 KiB, both
// ways: a page (the package's browser entry, bundled as an application would)
// echoes what a Node WebSocketServer sends. npm test runs this with the fast
// paths on (source and dist passes: our framing to the page, the receive lane
// for what it sends back) and off.
import type { Tensor } from '@harmonics/core';
import { expectSameTensor } from '@harmonics/conformance';
import { WebSocketServer } from '@harmonics/transport-ws';
import { bundlePage, launchChromium, pageServer } from './fixtures/chromium';
import { fastReceived } from '../src/fast-receive';
import { burstTensors, laneVisible } from './fixtures/burst';
import { acceptPair } from './fixtures/accept';

/** echo-page.ts's hash of what it decoded, computed here over what we sent. */
function fnvOf(tensors: Tensor[]): string {
  let h = 0x811c9dc5;
  const mix = (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  };
  for (const t of tensors) {
    mix(new TextEncoder().encode(`${t.dtype}[${t.shape.join(',')}]`));
    mix(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.toString(16);
}

it('Chromium echoes 3 × 4 MiB and a burst of 10,000 × 1 KiB: it decodes them bit-exact and they come back bit-exact, in order', async () => {
  const { code } = await bundlePage('echo-page.ts');
  const { http, port } = await pageServer(code);
  const server = await WebSocketServer.listen({ server: http });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/`);
    const [down, up] = await acceptPair(server, '/down');
    const toPage = down.consumer();
    const fromPage = up.producer();
    const want = burstTensors();
    const laneBefore = fastReceived.frames;
    // Send the burst without waiting on the echoes; read them as they come.
    const sending = (async () => {
      for (const t of want) await toPage.push(t);
      await toPage.close();
    })();
    for (const t of want) expectSameTensor(await fromPage.next(), t);
    await sending;
    expect(await fromPage.next()).toBeUndefined(); // the page closed cleanly after our end
    await page.waitForFunction(() => (window as unknown as { result?: string }).result !== undefined, undefined, { timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { result: string }).result)).toBe(`done ${want.length} ${fnvOf(want)}`);
    expect(errors).toEqual([]);
    if (laneVisible) expect(fastReceived.frames - laneBefore).toBeGreaterThanOrEqual(10_000); // the echoes took the lane
  } finally {
    await browser.close();
    await server.close({ closeConnections: true });
    await new Promise((r) => http.close(r));
  }
}, 120_000);
