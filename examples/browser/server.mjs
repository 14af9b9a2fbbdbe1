// One stage of the demo MLP in a browser: this Node process serves a page,
// applies layer l1 to each input and sends it to the page over a WebSocket;
// the page hands it to a Web Worker that applies l2 and l3 (stage-worker.mjs)
// and sends the result back over a second WebSocket; this process applies l4
// and checks the outputs against the whole model run here, bit for bit. The
// page shows a live table per hop and the verdict.
//
//   node server.mjs [--port 8080] [--tensors 64] [--rows 8] [--once]
//
// Open the printed address in a browser. With --once the server exits after
// one run: 0 when the outputs match, 1 otherwise.
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { WebSocketServer } from '@harmonics/transport-ws';
import { LAYERS, countMismatches, forward, makeInput, makeWeights } from '../pipeline/model.mjs';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    tensors: { type: 'string', default: '64' },
    rows: { type: 'string', default: '8' },
    once: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log('usage: node server.mjs [--port 8080] [--tensors 64] [--rows 8] [--once]');
  process.exit(0);
}
const count = Number(args.tensors);
const rows = Number(args.rows);
const port = Number(args.port);
for (const [name, n, min] of [
  ['tensors', count, 1],
  ['rows', rows, 1],
  ['port', port, 0],
]) {
  if (!Number.isInteger(n) || n < min) {
    console.error(`error: --${name} must be a whole number ≥ ${min}, got ${args[name]}\nrun with --help for usage`);
    process.exit(2);
  }
}

// The page and the worker, bundled for the browser as an application would (the packages' browser entries).
const bundle = async (entry) =>
  (
    await build({
      entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
    })
  ).outputFiles[0].text;
const files = {
  '/page.js': await bundle('./page.mjs'),
  '/stage.js': await bundle('./stage-worker.mjs'),
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Harmonics: a model stage in a Web Worker</title>
<style>
  body { font: 15px system-ui, sans-serif; margin: 2em; color: #1b1f24; }
  table { border-collapse: collapse; margin: 1em 0; }
  th, td { border: 1px solid #c9d1d9; padding: 6px 12px; text-align: left; }
  th { background: #eef2f6; }
  #verdict { font-weight: 600; padding: 8px 12px; display: inline-block; }
  #verdict.ok { background: #dafbe1; color: #116329; }
  #verdict.bad { background: #ffebe9; color: #a40e26; }
</style>
</head>
<body>
<h1>One stage of the model in a Web Worker</h1>
<p>Node applies layer l1 and sends each tensor here over a WebSocket; a Web Worker applies l2 and l3; the result goes back to Node over a second WebSocket, where l4 runs and the output is checked against the whole model.</p>
<table>
<thead><tr><th>hop</th><th>medium</th><th>tensors</th><th>MB</th><th>MB/s</th></tr></thead>
<tbody id="hops"></tbody>
</table>
<div id="verdict">running…</div>
<script type="module" src="/page.js"></script>
</body>
</html>
`;

const weights = makeWeights();
const byName = (...names) => LAYERS.filter((l) => names.includes(l.name));
let verdict;
const verdictWaiters = [];
// Resolved once a page has been given the verdict of the current run (so --once does not close before).
let verdictServed;
let markServed = () => {};

const http = createServer((req, res) => {
  if (req.url === '/config.json') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ inPort: toPage.port, outPort: fromPage.port, tensors: count }));
  } else if (req.url === '/verdict') {
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(verdict), markServed);
    };
    if (verdict) answer();
    else verdictWaiters.push(answer);
  } else if (files[req.url] !== undefined) {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(files[req.url]);
  } else {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
  }
});
await new Promise((resolve) => http.listen(port, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${http.address().port}`;
// Two WebSocket servers, one per direction; only this page's origin may connect.
const toPage = await WebSocketServer.listen({ host: '127.0.0.1', origins: [origin] });
const fromPage = await WebSocketServer.listen({ host: '127.0.0.1', origins: [origin] });
console.log(`open ${origin}/ in a browser (${count} tensors of [${rows}, ${LAYERS[0].inputs}])`);

async function run() {
  const out = await toPage.acceptConsumer();
  const back = await fromPage.acceptProducer();
  const inputs = Array.from({ length: count }, (_, i) => makeInput(i, rows));
  const t0 = performance.now();
  const sending = (async () => {
    for (const x of inputs) await out.push(forward(x, byName('l1'), weights));
    await out.close();
  })();
  const results = [];
  for await (const y of back) results.push(forward(y, byName('l4'), weights));
  await sending;
  const seconds = (performance.now() - t0) / 1000;
  const mismatches = countMismatches(inputs, results, weights);
  const ok = mismatches === 0 && results.length === count;
  const message = ok
    ? `OK: ${count} outputs through the browser's Web Worker match the single-process forward pass bit for bit (${seconds.toFixed(2)} s)`
    : `MISMATCH: ${mismatches} of ${count} outputs differ (${results.length} received)`;
  return { ok, message };
}

for (;;) {
  verdict = undefined;
  verdictServed = new Promise((resolve) => (markServed = resolve));
  verdict = await run().catch((err) => ({ ok: false, message: `FAILED: ${err.code ? `${err.code}: ` : ''}${err.message}` }));
  for (const answer of verdictWaiters.splice(0)) answer();
  console.log(verdict.message);
  if (args.once) {
    // Let the page fetch the verdict it shows (it asks once its streams end), then stop.
    await Promise.race([verdictServed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    break;
  }
}
await Promise.all([toPage.close({ closeConnections: true }), fromPage.close({ closeConnections: true })]);
http.closeAllConnections();
await new Promise((resolve) => http.close(resolve));
process.exit(verdict.ok ? 0 : 1);
