import { DTYPES, tensor, tensorBytes } from '@harmonics/core';
import { everyDtypeSamples, sampleTensor, seededBytes, tensorDifference } from '@harmonics/conformance';

describe('conformance fixtures', () => {
  it('seeded bytes are deterministic and vary with the seed', () => {
    expect(seededBytes(32, 5)).toEqual(seededBytes(32, 5));
    expect(seededBytes(32, 5)).not.toEqual(seededBytes(32, 6));
  });

  it('samples carry the special bit patterns (NaN payload, -0) and cover every dtype', () => {
    const f32 = sampleTensor('float32', [8]);
    const bits = new Uint32Array(f32.data.buffer, f32.data.byteOffset, 8);
    expect(bits[0]).toBe(0x7fc00001);
    expect(Object.is(f32.data[3], -0)).toBe(true);
    expect(everyDtypeSamples().map((t) => t.dtype)).toEqual(DTYPES);
    expect(sampleTensor('int64', [2]).data[0]).toBe(-(2n ** 63n));
  });

  it('tensorDifference sees one flipped NaN payload bit, a shape change and a dtype change', () => {
    const a = sampleTensor('float32', [4]);
    const b = tensor('float32', [4], (a.data as Float32Array).slice());
    expect(tensorDifference(b, a)).toBeUndefined();
    tensorBytes(b)[0] ^= 1; // NaN stays NaN, the payload changes
    expect(Number.isNaN(b.data[0] as number)).toBe(true);
    expect(tensorDifference(b, a)).toMatch(/byte 0/);
    expect(tensorDifference(tensor('float32', [2, 2], a.data as Float32Array), a)).toMatch(/shape/);
    expect(tensorDifference(tensor('int32', [4]), a)).toMatch(/dtype/);
    expect(tensorDifference(undefined, a)).toMatch(/end of stream/);
  });
});
