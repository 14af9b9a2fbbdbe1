// Runs a two-layer model split across two processes: this one computes layer 1
// and streams activations to a child process over its stdin; the child computes
// layer 2 and streams logits back over its stdout. The result is checked bit
// for bit against the same model run in this single process.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { StreamConsumer, StreamProducer, encodedByteLength, tensor } from '@harmonics/core';
import { LAYER1, LAYER2, dense, seeded } from './model.mjs';

const batches = Number(process.argv[2] ?? 200);
const batchSize = 32;
const child = spawn(process.execPath, [fileURLToPath(new URL('./stage.mjs', import.meta.url))], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const toChild = new StreamConsumer(child.stdin);
const fromChild = new StreamProducer(child.stdout);

const inputs = Array.from({ length: batches }, (_, i) => tensor('float32', [batchSize, 64], seeded(batchSize * 64, 1000 + i)));
const sentAt = [];
const latencies = [];
let bytesOut = 0;
let bytesIn = 0;
const start = performance.now();
const sending = (async () => {
  for (const x of inputs) {
    const h = dense(x, LAYER1);
    bytesOut += encodedByteLength(h) + 4;
    sentAt.push(performance.now());
    await toChild.push(h);
  }
  await toChild.close();
})();
const results = [];
for await (const y of fromChild) {
  latencies.push(performance.now() - sentAt[results.length]);
  bytesIn += encodedByteLength(y) + 4;
  results.push(y);
}
await sending;
const seconds = (performance.now() - start) / 1000;
const exit = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', resolve)));

let mismatches = 0;
for (let i = 0; i < batches; i++) {
  const expected = dense(dense(inputs[i], LAYER1), LAYER2, false);
  const got = results[i];
  const same =
    got !== undefined &&
    got.dtype === 'float32' &&
    got.shape.join() === expected.shape.join() &&
    Buffer.compare(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength), Buffer.from(expected.data.buffer)) === 0;
  if (!same) mismatches++;
}

latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
console.log('hop                      tensors        MB     MB/s');
const row = (name, n, bytes) =>
  console.log(
    `${name.padEnd(22)} ${String(n).padStart(9)} ${(bytes / 1e6).toFixed(2).padStart(9)} ${(bytes / 1e6 / seconds).toFixed(1).padStart(8)}`,
  );
row('stdin  (layer1→layer2)', batches, bytesOut);
row('stdout (layer2→main)', results.length, bytesIn);
console.log(`end to end per batch (sent → logits back, all batches in flight): p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms`);
if (exit !== 0) {
  console.error(`stage process exited with code ${exit}`);
  process.exit(1);
}
if (mismatches > 0 || results.length !== batches) {
  console.error(`MISMATCH: ${mismatches} of ${batches} batches differ from the single-process forward pass (${results.length} received)`);
  process.exit(1);
}
console.log(`OK: the distributed output of ${batches} batches matches the single-process forward pass bit for bit`);
