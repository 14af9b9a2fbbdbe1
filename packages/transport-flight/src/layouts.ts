import type { DType } from '@harmonics/core';
import { type SendLayout, layoutKey, sendLayout } from './arrow.js';

const cache = new Map<string, SendLayout>();
const LIMIT = 256;

/** The send layout for `dtype`/`shape` with the default column name, built once per (dtype, shape). */
export function cachedLayout(dtype: DType, shape: readonly number[], key = layoutKey(dtype, shape)): SendLayout {
  let l = cache.get(key);
  if (l === undefined) {
    l = sendLayout(dtype, shape);
    if (cache.size >= LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(key, l);
  }
  return l;
}
