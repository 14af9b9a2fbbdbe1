import { DTYPES, type Tensor, tensor } from '@harmonics/core';
import { errorOf, errorOfSync, expectSameTensor, sampleTensor } from '@harmonics/conformance';
import {
  NpzConsumer,
  bytesSource,
  crc32,
  decodeNpy,
  encodeNpy,
  memorySink,
  npyHeader,
  openNpz,
  parseNpyHeader,
  readNpy,
  writeNpy,
  writeNpz,
} from '@harmonics/formats';
import { zipSync } from 'fflate';

/** A .npy file with the given header dict text and data, at `version`. */
function npy(dict: string, data: Uint8Array, version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const len = Math.ceil((pre + dict.length + 1) / 64) * 64 - pre;
  const text = new TextEncoder().encode(dict.padEnd(len - 1, ' ') + '\n');
  const out = new Uint8Array(pre + text.byteLength + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const v = new DataView(out.buffer);
  if (version === 1) v.setUint16(8, text.byteLength, true);
  else v.setUint32(8, text.byteLength, true);
  out.set(text, pre);
  out.set(data, pre + text.byteLength);
  return out;
}

const bytes = (t: Tensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe('.npy', () => {
  test.each(DTYPES.map((d) => [d]))('%s round-trips bit-exact, with a scalar and a zero-size array', (dtype) => {
    for (const shape of [[3, 5], [], [0, 3], [7]]) {
      const t = sampleTensor(dtype, shape, 3);
      const file = encodeNpy(t);
      expect(file.byteLength - t.data.byteLength).toBe(parseNpyHeader(file).dataOffset);
      expect(parseNpyHeader(file).dataOffset % 64).toBe(0);
      expectSameTensor(decodeNpy(file), t);
    }
  });

  test('the header is what np.save writes', () => {
    const h = new TextDecoder().decode(npyHeader('float32', [3]).subarray(10));
    expect(h.trimEnd()).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
    expect(new TextDecoder().decode(npyHeader('int64', []).subarray(10)).trimEnd()).toBe("{'descr': '<i8', 'fortran_order': False, 'shape': (), }");
    expect(new TextDecoder().decode(npyHeader('bfloat16', [2, 3]).subarray(10)).trimEnd()).toBe(
      "{'descr': 'bfloat16', 'fortran_order': False, 'shape': (2, 3), }",
    );
  });

  test('versions 2 and 3 read as version 1 does', () => {
    const t = sampleTensor('int32', [2, 3], 5);
    for (const version of [1, 2, 3]) {
      expectSameTensor(decodeNpy(npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", bytes(t), version)), t);
    }
  });

  test('big-endian input is swapped to little-endian', () => {
    const t = tensor('float64', [3], new Float64Array([1.5, -2, Math.PI]));
    const be = new Uint8Array(24);
    const v = new DataView(be.buffer);
    t.data.forEach((x, i) => v.setFloat64(i * 8, x as number, false));
    expectSameTensor(decodeNpy(npy("{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", be)), t);
    const u16 = new Uint8Array([0x12, 0x34, 0xab, 0xcd]);
    expect(Array.from(decodeNpy(npy("{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }", u16)).data as Uint16Array)).toEqual([
      0x1234, 0xabcd,
    ]);
  });

  test('Fortran order is transposed to C order, as np.load gives it', () => {
    // The 2×3×2 array with C-order values 0…11; Fortran order stores the first index fastest.
    const shape = [2, 3, 2];
    const fortran = new Int16Array(12);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 2; k++) fortran[i + 2 * j + 6 * k] = i * 6 + j * 2 + k;
    const t = decodeNpy(npy("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3, 2), }", new Uint8Array(fortran.buffer)));
    expect(t.shape).toEqual(shape);
    expect(Array.from(t.data as Int16Array)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  test("'|V2' (how np.save writes ml_dtypes' bfloat16) is ERR_BAD_DTYPE saying what to pass, and reads with voidDType", () => {
    const file = npy("{'descr': '|V2', 'fortran_order': False, 'shape': (2,), }", new Uint8Array([0x80, 0x3f, 0x00, 0x40]));
    const err = errorOfSync(() => decodeNpy(file));
    expect(err?.code).toBe('ERR_BAD_DTYPE');
    expect(err?.message).toContain("voidDType: 'bfloat16'");
    const t = decodeNpy(file, { voidDType: 'bfloat16' });
    expect(t.dtype).toBe('bfloat16');
    expect(Array.from(t.data as Uint16Array)).toEqual([0x3f80, 0x4000]);
  });

  test('writeNpy and readNpy go through a sink and a source', async () => {
    const t = sampleTensor('float16', [4, 4], 9);
    const sink = memorySink();
    await writeNpy(sink, t);
    expect(sink.bytes()).toEqual(encodeNpy(t));
    expectSameTensor(await readNpy(bytesSource(sink.bytes())), t);
  });

  describe('bad files get typed errors', () => {
    const ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    const cases: [string, Uint8Array, string][] = [
      ['not .npy at all', new TextEncoder().encode('hello, this is not numpy'), 'ERR_BAD_MAGIC'],
      ['an unknown version', (() => { const b = npy(ok, new Uint8Array(8)); b[6] = 4; return b; })(), 'ERR_PROTOCOL'], // prettier-ignore
      ['data cut short', npy(ok, new Uint8Array(7)), 'ERR_TRUNCATED'],
      ['bytes after the data', npy(ok, new Uint8Array(9)), 'ERR_PROTOCOL'],
      ['a header cut short', npy(ok, new Uint8Array(8)).subarray(0, 40), 'ERR_TRUNCATED'],
      ['a structured dtype', npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", new Uint8Array(8)), 'ERR_BAD_DTYPE'],
      ['an unknown dtype', npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), 'ERR_BAD_DTYPE'],
      ['a header that does not parse', npy("{'descr': '<f4', 'fortran_order': Maybe}", new Uint8Array(8)), 'ERR_PROTOCOL'],
      ['a missing key', npy("{'descr': '<f4', 'shape': (2,), }", new Uint8Array(8)), 'ERR_PROTOCOL'],
      ['a negative dim', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", new Uint8Array(8)), 'ERR_BAD_SHAPE'],
      ['a bool byte other than 0/1', npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", new Uint8Array([1, 2])), 'ERR_BAD_DTYPE'],
    ];
    test.each(cases)('%s', async (_what, file, code) => {
      expect(errorOfSync(() => decodeNpy(file))?.code).toBe(code);
      expect((await errorOf(readNpy(bytesSource(file))))?.code).toBe(code);
    });
  });
});

describe('.npz', () => {
  const arrays = (): Map<string, Tensor> => new Map(DTYPES.map((d, i) => [`a_${d}`, sampleTensor(d, i % 3 === 0 ? [] : [i, 3], i + 1)]));

  test.each([false, true])('every dtype round-trips bit-exact (compress: %s)', async (compress) => {
    const tensors = arrays();
    tensors.set('empty', tensor('uint8', [0]));
    const sink = memorySink();
    await writeNpz(sink, tensors, { compress });
    const file = await openNpz(bytesSource(sink.bytes()));
    expect(file.names).toEqual([...tensors.keys()]);
    expect(file.entries.every((e) => e.method === (compress ? 8 : 0))).toBe(true);
    for (const [n, t] of tensors) expectSameTensor(await file.read(n), t);
    const p = file.producer();
    const order: string[] = [];
    for (let t = await p.next(); t !== undefined; t = await p.next()) {
      order.push(p.name!);
      expectSameTensor(t, tensors.get(p.name!)!);
    }
    expect(order).toEqual(file.names);
  });

  test('NpzConsumer names pushed arrays arr_0, arr_1… as np.savez does, or by its names option', async () => {
    const sink = memorySink();
    const c = new NpzConsumer(sink, { names: ['first'] });
    const ts = [sampleTensor('float32', [2], 1), sampleTensor('int8', [3], 2), sampleTensor('bool', [4], 3)];
    for (const t of ts) await c.push(t);
    await c.close();
    const file = await openNpz(bytesSource(sink.bytes()));
    expect(file.names).toEqual(['first', 'arr_1', 'arr_2']);
    for (let i = 0; i < 3; i++) expectSameTensor(await file.read(file.names[i]), ts[i]);
  });

  test('reads archives fflate writes in one go, stored and deflated', async () => {
    const t = sampleTensor('float32', [8, 8], 4);
    const zip = zipSync({ 'x.npy': [encodeNpy(t), { level: 0 }], 'y.npy': [encodeNpy(t), { level: 9 }] });
    const file = await openNpz(bytesSource(zip));
    expect(file.entries.map((e) => [e.name, e.method])).toEqual([
      ['x', 0],
      ['y', 8],
    ]);
    expectSameTensor(await file.read('x'), t);
    expectSameTensor(await file.read('y'), t);
  });

  test('a damaged member fails its CRC check; the others still read', async () => {
    const a = sampleTensor('int32', [16], 1);
    const b = sampleTensor('int32', [16], 2);
    const sink = memorySink();
    await writeNpz(sink, { a, b });
    const zip = sink.bytes().slice();
    const file = await openNpz(bytesSource(zip));
    // Flip a data byte of member "a".
    const idx = findBytes(zip, bytes(a));
    zip[idx + 5] ^= 0xff;
    const err = await errorOf(file.read('a'));
    expect(err?.code).toBe('ERR_PROTOCOL');
    expect(err?.message).toContain('CRC');
    expectSameTensor(await file.read('b'), b);
  });

  test('not a zip, a cut archive and an unknown name are typed errors', async () => {
    expect((await errorOf(openNpz(bytesSource(new Uint8Array(100)))))?.code).toBe('ERR_BAD_MAGIC');
    const sink = memorySink();
    await writeNpz(sink, { a: sampleTensor('float32', [4], 1) });
    expect((await errorOf(openNpz(bytesSource(sink.bytes().subarray(0, sink.bytes().length - 10)))))?.code).toBe('ERR_TRUNCATED');
    const file = await openNpz(bytesSource(sink.bytes()));
    const err = await errorOf(file.read('b'));
    expect(err?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err?.message).toContain('"a"');
  });

  test('crc32 is the zip CRC', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});

function findBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('not found');
}
