import { tensor } from '@harmonics/core';

/** What the upstream stage sends: three dtypes, a scalar and a matrix. */
export function upstreamTensors() {
  return [tensor('float32', [2, 3], [1, 2, 3, 4, 5, -0.5]), tensor('int64', [2], [-(2n ** 63n), 2n ** 63n - 1n]), tensor('uint8', [], [255])];
}
