import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { launchChromium } from '@harmonics/conformance/chromium';

const SCREENSHOT = join(__dirname, '..', 'out', 'browser-example.png');

/** Start `node server.mjs …`; resolves with the page's address once it is printed. */
function startServer(...args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'server.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /open (http:\/\/\S+) in a browser/.exec(out);
      if (m) resolve({ child, url: m[1]!, output: () => out, exited });
    });
    void exited.then((code) => reject(new Error(`server.mjs exited with ${code} before printing its address:\n${out}`)));
  });
}

/** Distinct pixel rows in a PNG (8-bit RGB or RGBA, as Chromium writes): 1 means a blank image. */
function distinctRows(png: Buffer): number {
  expect(png.subarray(1, 4).toString()).toBe('PNG');
  const width = png.readUInt32BE(16);
  const colorType = png[25];
  const channels = colorType === 6 ? 4 : 3;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = 1 + width * channels;
  const rows = new Set<string>();
  // Filter type 0 rows keep their bytes; others are deltas, still distinct whenever the pixels differ.
  for (let r = 0; r + stride <= raw.length; r += stride) rows.add(raw.subarray(r, r + stride).toString('base64'));
  return rows.size;
}

describe('examples/browser', () => {
  it('a Web Worker in Chromium runs the middle stage: the page shows the bit-exact verdict, the screenshot is taken', async () => {
    const server = await startServer('--port', '0', '--once', '--tensors', '16', '--rows', '4');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 500 } });
      await page.goto(server.url);
      await page.waitForFunction(() => document.querySelector('#verdict')?.className !== '', undefined, { timeout: 60_000 });
      const verdict = await page.textContent('#verdict');
      expect(verdict).toMatch(/^OK: 16 outputs through the browser's Web Worker match the single-process forward pass bit for bit/);
      const table = await page.$$eval('#hops tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      expect(table.map((row) => [row[0], row[2]])).toEqual([
        ['Node (l1) → page', '16 / 16'],
        ['page → worker (l2+l3)', '16 / 16'],
        ['worker → page', '16 / 16'],
        ['page → Node (l4)', '16 / 16'],
      ]);
      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
    }
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('OK: 16 outputs');
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(5000);
    expect(distinctRows(readFileSync(SCREENSHOT))).toBeGreaterThan(20); // text and a table, not a blank page
  }, 120_000);

  it('bad arguments exit 2 with what to do', async () => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'server.mjs'), '--tensors', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(2);
    expect(err).toContain('--tensors must be a whole number ≥ 1, got 0');
  });
});
