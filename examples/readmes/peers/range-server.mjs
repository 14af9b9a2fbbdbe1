// readme-run: listens=8740 until=signal
// An HTTP server with Range support on 127.0.0.1:8740 for the formats README's
// browser block: serves /model.safetensors (a small checkpoint made here with
// @harmonics/formats) and logs each request; exits 0 on SIGTERM.
import { createServer } from 'node:http';
import { tensor } from '@harmonics/core';
import { encodeSafetensors } from '@harmonics/formats';

const model = encodeSafetensors({
  'embed.weight': tensor('float32', [1024, 64]),
  'head.weight': tensor('float32', [64, 10], new Float32Array(640).fill(0.5)),
});
const server = createServer((req, res) => {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (req.url !== '/model.safetensors') return void res.writeHead(404).end();
  if (m === null) return void res.writeHead(200, { 'content-length': model.length }).end(model);
  const start = Number(m[1]);
  const end = Math.min(Number(m[2]), model.length - 1);
  if (start >= model.length) return void res.writeHead(416, { 'content-range': `bytes */${model.length}` }).end();
  console.error(`range-server: GET ${req.url} ${req.headers.range}`);
  res
    .writeHead(206, { 'content-range': `bytes ${start}-${end}/${model.length}`, 'content-length': end - start + 1 })
    .end(model.subarray(start, end + 1));
});
server.listen(8740, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
