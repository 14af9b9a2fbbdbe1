// Real Chromium (Debian's) reads two named tensors from a safetensors file
// served over HTTP with Range support, with the package's browser build
// (bundled from its dist as an application would). The server's log shows
// it fetched the header and those two tensors' byte ranges, nothing else.
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { sampleTensor } from '@harmonics/conformance';
import { launchChromium } from '@harmonics/conformance/chromium';
import type { Tensor } from '@harmonics/core';
import { bytesSource, encodeSafetensors, openSafetensors } from '@harmonics/formats';
import { type RangeServer, startRangeServer } from './fixtures/range-server';

let browser: Browser | undefined;
let server: RangeServer;
let bundledInputs: string[];
const tensors = new Map<string, Tensor>([
  ['embed', sampleTensor('float32', [256, 256], 1)],
  ['layer.0', sampleTensor('bfloat16', [512, 256], 2)],
  ['layer.1', sampleTensor('float16', [512, 256], 3)],
  ['layer.2', sampleTensor('int8', [1024, 256], 4)],
  ['head', sampleTensor('float32', [256, 128], 5)],
]);
const file = encodeSafetensors(tensors, { metadata: { format: 'pt' } });

beforeAll(async () => {
  const out = await build({
    entryPoints: [join(__dirname, 'fixtures', 'formats-page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    absWorkingDir: join(__dirname, '..'),
    tsconfigRaw: '{}',
    metafile: true,
    logLevel: 'silent',
  });
  bundledInputs = Object.keys(out.metafile.inputs);
  server = await startRangeServer({
    'model.safetensors': file,
    'page.js': out.outputFiles[0]!.text,
    'index.html': '<!doctype html><script type="module" src="/page.js"></script>',
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

it('the page bundle is the built dist, with no Node built-in', () => {
  expect(bundledInputs.some((f) => /(^|\/)dist\/index\.js$/.test(f))).toBe(true);
  expect(bundledInputs.some((f) => f.startsWith('node:'))).toBe(false);
});

it('a page reads two named tensors by HTTP Range requests, fetching only their bytes', async () => {
  const want = ['layer.1', 'embed'];
  const layout = await openSafetensors(bytesSource(file));
  const headerEnd = layout.entries[0].offset;
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/index.html?file=${encodeURIComponent('/model.safetensors')}&prefetch=8&${want.map((n) => `name=${n}`).join('&')}`);
  await page.waitForFunction(
    () => {
      const o = (window as unknown as { harmonicsFormats?: { done: boolean; error?: string } }).harmonicsFormats;
      return o !== undefined && (o.done || o.error !== undefined);
    },
    undefined,
    { timeout: 30_000 },
  );
  const outcome = (await page.evaluate(() => (window as unknown as { harmonicsFormats: unknown }).harmonicsFormats)) as {
    done: boolean;
    error?: string;
    tensors: Record<string, { dtype: string; shape: number[]; hex: string }>;
  };
  await page.close();
  expect({ error: outcome.error, errors }).toEqual({ error: undefined, errors: [] });
  for (const n of want) {
    const t = tensors.get(n)!;
    expect(outcome.tensors[n]).toEqual({
      dtype: t.dtype,
      shape: t.shape,
      hex: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex'),
    });
  }
  const fetched = server.log.filter((l) => l.path === 'model.safetensors');
  const ranges = want
    .map((n) => layout.entry(n))
    .sort((a, b) => a.offset - b.offset)
    .map((e) => `bytes=${e.offset}-${e.offset + e.byteLength - 1}`);
  console.log(
    `Chromium read ${want.join(' and ')} from a ${file.byteLength}-byte safetensors file over HTTP: ${fetched.length} requests, ${fetched.reduce((n, l) => n + l.bytes, 0)} bytes:\n` +
      fetched.map((l) => `  ${l.method} /${l.path} Range: ${l.range} → ${l.status}, ${l.bytes} bytes`).join('\n'),
  );
  // The header's length (a first request of 8 bytes, which also learns the file's size), the header, then each tensor's exact range.
  expect(fetched.map((l) => [l.range, l.status])).toEqual([['bytes=0-7', 206], [`bytes=8-${headerEnd - 1}`, 206], ...ranges.map((r) => [r, 206])]);
  expect(fetched.reduce((n, l) => n + l.bytes, 0)).toBe(headerEnd + want.reduce((n, w) => n + layout.entry(w).byteLength, 0));
}, 60_000);
