// A tiny dense layer with seeded weights: y = relu(x · W + b). Both processes
// compute it with the same code in the same order, so results are bit-exact.
import { tensor } from '@harmonics/core';

/** Deterministic float32 values in [-1, 1) from a seed (xorshift32). */
export function seeded(n, seed) {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 0x100000000) * 2 - 1;
  }
  return out;
}

export function layer(inputs, outputs, seed) {
  return { inputs, outputs, w: seeded(inputs * outputs, seed), b: seeded(outputs, seed + 1) };
}

/** Apply a dense layer with ReLU to a [batch, inputs] float32 tensor. */
export function dense(x, { inputs, outputs, w, b }, relu = true) {
  const [batch, n] = x.shape;
  if (n !== inputs) throw new Error(`layer expects ${inputs} inputs, got ${n}`);
  const y = new Float32Array(batch * outputs);
  for (let r = 0; r < batch; r++) {
    for (let o = 0; o < outputs; o++) {
      let acc = b[o];
      for (let i = 0; i < inputs; i++) acc = Math.fround(acc + Math.fround(x.data[r * inputs + i] * w[i * outputs + o]));
      y[r * outputs + o] = relu && acc < 0 ? 0 : acc;
    }
  }
  return tensor('float32', [batch, outputs], y);
}

export const LAYER1 = layer(64, 128, 11);
export const LAYER2 = layer(128, 10, 23);
