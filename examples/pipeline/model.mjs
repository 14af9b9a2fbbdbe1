// A small multilayer perceptron with fixed, seeded weights. Every process
// runs the same code in the same order, so the split model and the
// single-process model agree bit for bit.
import { tensor } from '@harmonics/core';

/** The layers, in order: [batch, inputs] → [batch, outputs]. */
export const LAYERS = [
  { name: 'l1', inputs: 256, outputs: 512, relu: true },
  { name: 'l2', inputs: 512, outputs: 512, relu: true },
  { name: 'l3', inputs: 512, outputs: 256, relu: true },
  { name: 'l4', inputs: 256, outputs: 16, relu: false },
];
export const INPUT_FEATURES = LAYERS[0].inputs;

/** Deterministic float32 values in [-scale, scale) from a seed (xorshift32). */
export function seeded(n, seed, scale = 1) {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = ((x / 0x100000000) * 2 - 1) * scale;
  }
  return out;
}

/** The model's weights by name (`l1.weight` [inputs, outputs], `l1.bias` [outputs]), for saveNamedWeights. */
export function makeWeights(seed = 2026) {
  const weights = new Map();
  LAYERS.forEach((l, i) => {
    const scale = Math.sqrt(6 / l.inputs); // He-style uniform init keeps activations in range
    weights.set(`${l.name}.weight`, tensor('float32', [l.inputs, l.outputs], seeded(l.inputs * l.outputs, seed + 2 * i, scale)));
    weights.set(`${l.name}.bias`, tensor('float32', [l.outputs], seeded(l.outputs, seed + 2 * i + 1, 0.1)));
  });
  return weights;
}

/** Input batch number `i`: a [rows, 256] float32 tensor. */
export function makeInput(i, rows) {
  return tensor('float32', [rows, INPUT_FEATURES], seeded(rows * INPUT_FEATURES, 1000 + i));
}

/** y = x · W + b (then ReLU), accumulated in float64 in a fixed order and rounded once to float32. */
export function dense(x, layer, weights) {
  const w = weights.get(`${layer.name}.weight`).data;
  const b = weights.get(`${layer.name}.bias`).data;
  const [rows, n] = x.shape;
  if (x.dtype !== 'float32' || n !== layer.inputs) {
    throw new Error(`layer ${layer.name} expects float32 [rows, ${layer.inputs}], got ${x.dtype} [${x.shape}]`);
  }
  const out = layer.outputs;
  const y = new Float32Array(rows * out);
  const acc = new Float64Array(out);
  for (let r = 0; r < rows; r++) {
    acc.set(b);
    for (let i = 0; i < n; i++) {
      const xi = x.data[r * n + i];
      if (xi === 0) continue;
      const row = i * out;
      for (let o = 0; o < out; o++) acc[o] += xi * w[row + o];
    }
    for (let o = 0; o < out; o++) y[r * out + o] = layer.relu && acc[o] < 0 ? 0 : acc[o];
  }
  return tensor('float32', [rows, out], y);
}

/** Apply `layers` in order. */
export function forward(x, layers, weights) {
  for (const layer of layers) x = dense(x, layer, weights);
  return x;
}

/**
 * How many of `results` differ from the whole model applied to `inputs` in
 * this process: same dtype, shape and every bit, else a mismatch (a missing
 * result counts too).
 */
export function countMismatches(inputs, results, weights) {
  let mismatches = 0;
  inputs.forEach((x, i) => {
    const expected = forward(x, LAYERS, weights);
    const got = results[i];
    const same =
      got !== undefined &&
      got.dtype === expected.dtype &&
      got.shape.join() === expected.shape.join() &&
      Buffer.compare(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength), Buffer.from(expected.data.buffer)) === 0;
    if (!same) mismatches++;
  });
  return mismatches;
}
