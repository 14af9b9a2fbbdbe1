import { type Tensor, tensor } from '@harmonics/core';

/**
 * The ten tensors of the golden `tensors.bin`, built independently from the
 * table in `testdata/cpp-reference/README.md`.
 */
export function expectedGoldenTensors(): Tensor[] {
  const u8 = new Uint8Array(256 * 256);
  for (let i = 0; i < u8.length; i++) u8[i] = (i * 31 + 7) % 256;
  const f32 = new Float32Array(1024 * 1024);
  for (let i = 0; i < f32.length; i++) f32[i] = i * 0.5;
  return [
    tensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]),
    tensor('float64', [4], [0.5, -1.25, 1e300, -0.0]),
    tensor('int32', [2, 2], [-2147483648, -1, 0, 2147483647]),
    tensor('int64', [3], [-9223372036854775808n, 42n, 9223372036854775807n]),
    tensor('uint8', [5], [0, 1, 127, 128, 255]),
    tensor('float32', [], [3.5]),
    tensor('float32', [0]),
    tensor('float32', [3, 0, 2]),
    tensor('uint8', [256, 256], u8),
    tensor('float32', [1024, 1024], f32),
  ];
}
