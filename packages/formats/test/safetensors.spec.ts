import { DTYPES, type Tensor, tensor } from '@harmonics/core';
import { errorOf, errorOfSync, expectSameTensor, sampleTensor } from '@harmonics/conformance';
import {
  type RandomAccessSource,
  SafetensorsConsumer,
  bytesSource,
  encodeSafetensors,
  memorySink,
  openSafetensors,
  safetensorsHeader,
  writeSafetensors,
} from '@harmonics/formats';

/** A source that records every read it serves. */
function counting(inner: RandomAccessSource): RandomAccessSource & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    size: inner.size,
    reads,
    read(offset, length, options) {
      reads.push([offset, length]);
      return inner.read(offset, length, options);
    },
  };
}

/** A file whose header is `json` (an object or raw text), followed by `dataBytes` bytes. */
function craft(json: unknown, dataBytes = 0, declared?: number): Uint8Array {
  const text = new TextEncoder().encode(typeof json === 'string' ? json : JSON.stringify(json));
  const out = new Uint8Array(8 + text.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(declared ?? text.byteLength), true);
  out.set(text, 8);
  return out;
}

const every = (): Map<string, Tensor> => {
  const m = new Map<string, Tensor>();
  DTYPES.forEach((d, i) => m.set(`t_${d}`, sampleTensor(d, [3, 5], i + 1)));
  m.set('scalar', sampleTensor('float64', [], 99));
  m.set('empty', tensor('float32', [0, 4]));
  m.set('ünïcode name', sampleTensor('int16', [2, 1, 3], 7));
  return m;
};

describe('safetensors', () => {
  test('every dtype, a scalar, a zero-size tensor and metadata round-trip bit-exact', async () => {
    const tensors = every();
    const bytes = encodeSafetensors(tensors, { metadata: { format: 'pt', note: 'ö' } });
    const file = await openSafetensors(bytesSource(bytes));
    expect(file.metadata).toEqual({ format: 'pt', note: 'ö' });
    expect([...file.names].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) expectSameTensor(await file.read(name), t);
    // Largest elements first, as the Rust writer orders them: each tensor starts aligned for its dtype.
    for (const e of file.entries) expect(e.offset % tensors.get(e.name)!.data.BYTES_PER_ELEMENT).toBe(0);
    expect(file.names.slice(0, 3)).toEqual(['t_float64', 't_int64', 't_uint64']);
  });

  test('the header is padded with spaces to a multiple of 8, as the Rust writer does', () => {
    const h = safetensorsHeader([{ name: 'a', dtype: 'float32', shape: [2] }]);
    const n = Number(new DataView(h.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(h.byteLength).toBe(8 + n);
    const text = new TextDecoder().decode(h.subarray(8));
    expect(JSON.parse(text)).toEqual({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
  });

  test('writeSafetensors streams to a sink and gives the same bytes as encodeSafetensors', async () => {
    const tensors = every();
    const sink = memorySink();
    await writeSafetensors(sink, tensors, { metadata: { a: 'b' } });
    expect(sink.bytes()).toEqual(encodeSafetensors(tensors, { metadata: { a: 'b' } }));
  });

  test('reading one tensor reads the header and that tensor’s bytes only', async () => {
    const tensors = every();
    const src = counting(bytesSource(encodeSafetensors(tensors)));
    const file = await openSafetensors(src);
    const headerReads = src.reads.length;
    const e = file.entry('t_int32');
    await file.read('t_int32');
    expect(src.reads.slice(headerReads)).toEqual([[e.offset, e.byteLength]]);
  });

  test('readMany reads neighbours in one read and skips what lies between', async () => {
    const tensors = every();
    const src = counting(bytesSource(encodeSafetensors(tensors)));
    const file = await openSafetensors(src);
    const before = src.reads.length;
    const got = await file.readMany(['t_uint8', 't_int8', 't_float32']);
    expect([...got.keys()]).toEqual(['t_uint8', 't_int8', 't_float32']);
    for (const [n, t] of got) expectSameTensor(t, tensors.get(n)!);
    const [f32, i8, u8] = ['t_float32', 't_int8', 't_uint8'].map((n) => file.entry(n));
    // uint8 and int8 are neighbours in the file: one read of both; float32 is elsewhere.
    expect(src.reads.slice(before)).toEqual([
      [f32.offset, f32.byteLength],
      [u8.offset, u8.byteLength + i8.byteLength],
    ]);
  });

  test('the producer yields every tensor in file order, with its name', async () => {
    const tensors = every();
    const file = await openSafetensors(bytesSource(encodeSafetensors(tensors)));
    const p = file.producer();
    expect(p.size).toBe(tensors.size);
    const names: string[] = [];
    for (let t = await p.next(); t !== undefined; t = await p.next()) {
      names.push(p.name!);
      expectSameTensor(t, tensors.get(p.name!)!);
    }
    expect(names).toEqual(file.names);
    const seen: string[] = [];
    for await (const [name, t] of file) {
      seen.push(name);
      expectSameTensor(t, tensors.get(name)!);
    }
    expect(seen).toEqual(file.names);
  });

  test('SafetensorsConsumer writes pushed tensors under a known header, and says what is missing at close', async () => {
    const a = sampleTensor('float32', [4, 4], 1);
    const b = sampleTensor('bfloat16', [8], 2);
    const entries = [
      { name: 'a', dtype: 'float32', shape: [4, 4] },
      { name: 'b', dtype: 'bfloat16', shape: [8] },
    ] as const;
    const sink = memorySink();
    const c = new SafetensorsConsumer(sink, entries);
    expect((await errorOf(c.push(b)))?.code).toBe('ERR_INVALID_ARGUMENT');
    await c.push(a);
    await c.push(b);
    expect((await errorOf(c.push(b)))?.code).toBe('ERR_INVALID_ARGUMENT');
    await c.close();
    const file = await openSafetensors(bytesSource(sink.bytes()));
    expectSameTensor(await file.read('a'), a);
    expectSameTensor(await file.read('b'), b);

    const short = new SafetensorsConsumer(memorySink(), entries);
    await short.push(a);
    const err = await errorOf(short.close());
    expect(err?.code).toBe('ERR_PROTOCOL');
    expect(err?.message).toContain('1 of 2');
  });

  test('writers refuse repeated and reserved names and non-string metadata', () => {
    const t = tensor('float32', [1]);
    expect(errorOfSync(() => encodeSafetensors({ __metadata__: t }))?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(errorOfSync(() => encodeSafetensors({ a: t }, { metadata: { n: 1 as unknown as string } }))?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(
      errorOfSync(() =>
        safetensorsHeader([
          { name: 'x', dtype: 'uint8', shape: [1] },
          { name: 'x', dtype: 'uint8', shape: [1] },
        ]),
      )?.code,
    ).toBe('ERR_INVALID_ARGUMENT');
  });

  test('F8 and other unknown dtypes are ERR_BAD_DTYPE naming them, and the rest of the file still reads', async () => {
    const file = await openSafetensors(
      bytesSource(
        craft(
          {
            f8: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] },
            ok: { dtype: 'U8', shape: [4], data_offsets: [4, 8] },
            c: { dtype: 'C64', shape: [1], data_offsets: [8, 16] },
          },
          16,
        ),
      ),
    );
    const f8 = await errorOf(file.read('f8'));
    expect(f8?.code).toBe('ERR_BAD_DTYPE');
    expect(f8?.message).toContain('F8_E4M3');
    expect((await errorOf(file.read('c')))?.message).toContain('C64');
    expect((await file.read('ok')).dtype).toBe('uint8');
    expect((await errorOf(file.read('nope')))?.code).toBe('ERR_INVALID_ARGUMENT');
  });

  describe('malformed files get typed errors, without allocating what they declare', () => {
    const cases: [string, Uint8Array, string, string][] = [
      ['shorter than the length field', new Uint8Array(5), 'ERR_TRUNCATED', ''],
      ['a header length beyond the file', craft({}, 0, 1000), 'ERR_TRUNCATED', ''],
      ['a header length of 2^63', craft({}, 0, Number.MAX_SAFE_INTEGER), 'ERR_TOO_LARGE', ''],
      ['a header that is not JSON', craft('{"a": '), 'ERR_PROTOCOL', 'JSON'],
      ['a header that is not an object', craft('[1, 2]'), 'ERR_BAD_MAGIC', ''],
      [
        'overlapping offsets',
        craft({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, 8),
        'ERR_PROTOCOL',
        'overlap',
      ],
      ['an offset past the end of the file', craft({ a: { dtype: 'F32', shape: [1 << 28], data_offsets: [0, 1 << 30] } }, 16), 'ERR_TRUNCATED', ''],
      ['a size that disagrees with the shape', craft({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), 'ERR_BAD_SHAPE', '12 bytes'],
      ['offsets that end before they begin', craft({ a: { dtype: 'U8', shape: [0], data_offsets: [4, 2] } }, 8), 'ERR_PROTOCOL', ''],
      ['a negative dim', craft({ a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }), 'ERR_PROTOCOL', ''],
      ['a missing dtype', craft({ a: { shape: [1], data_offsets: [0, 1] } }, 1), 'ERR_PROTOCOL', ''],
      ['non-string metadata', craft({ __metadata__: { a: 1 } }), 'ERR_PROTOCOL', ''],
      ['invalid UTF-8', craft('{"a": 1}').fill(0xff, 10, 11), 'ERR_PROTOCOL', 'UTF-8'],
    ];
    test.each(cases)('%s', async (_what, bytes, code, text) => {
      const err = await errorOf(openSafetensors(bytesSource(bytes)));
      expect(err?.code).toBe(code);
      expect(err?.message).toContain(text);
    });
  });

  test('a header over maxHeaderBytes is refused before it is read', async () => {
    const bytes = craft({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, 1);
    const src = counting(bytesSource(bytes));
    expect((await errorOf(openSafetensors(src, { maxHeaderBytes: 8 })))?.code).toBe('ERR_TOO_LARGE');
    expect(src.reads).toEqual([[0, 8]]);
  });
});
