import { FrameDecoder, type Tensor, decodeTensor, encodeTensor, tensor } from '@harmonics/core';
import { errorOfSync, expectedGoldenTensors, expectSameTensor, goldenFile, sampleTensor } from '@harmonics/conformance';

function drain(d: FrameDecoder): Tensor[] {
  const out: Tensor[] = [];
  for (let t = d.read(); t !== undefined; t = d.read()) out.push(t);
  return out;
}

describe('FrameDecoder', () => {
  it('places every record so its data is aligned and returns views of it', () => {
    const d = new FrameDecoder();
    const sent = [sampleTensor('float64', [3], 1), sampleTensor('int64', [2], 2), sampleTensor('int16', [3], 3)];
    const stream = new Uint8Array(sent.reduce((n, t) => n + 4 + encodeTensor(t).length, 0));
    let o = 0;
    for (const t of sent) {
      const r = encodeTensor(t, { lengthPrefix: true });
      stream.set(r, o);
      o += r.length;
    }
    d.push(stream);
    const got = drain(d);
    got.forEach((t, i) => {
      expectSameTensor(t, sent[i]);
      expect(t.data.byteOffset % t.data.BYTES_PER_ELEMENT).toBe(0);
      expect(t.data.buffer).not.toBe(stream.buffer); // each record owns its buffer
    });
  });

  it('does not allocate a declared size before its bytes arrive', () => {
    const d = new FrameDecoder();
    // uint8 [200 MiB]: prefix + 13-byte header, no data yet
    const header = encodeTensor(tensor('uint8', [0])); // template for the layout
    const n = 200 * 1024 * 1024;
    const bytes = new Uint8Array(4 + 13);
    new DataView(bytes.buffer).setUint32(0, 13 + n, true);
    bytes.set(header.subarray(0, 5), 4);
    new DataView(bytes.buffer).setUint32(9, n, true);
    new DataView(bytes.buffer).setUint32(13, n, true);
    const before = process.memoryUsage().arrayBuffers;
    d.push(bytes);
    d.push(new Uint8Array(1000));
    expect(d.read()).toBeUndefined();
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
    const err = errorOfSync(() => d.end());
    expect(err?.code).toBe('ERR_TRUNCATED');
    expect(err?.message).toContain('byte 4');
  });

  it('a declared 200 MiB fed in many tiny chunks, then a burst: memory follows the bytes received, not the header', () => {
    const d = new FrameDecoder();
    const n = 200 * 1024 * 1024;
    const bytes = new Uint8Array(4 + 13);
    new DataView(bytes.buffer).setUint32(0, 13 + n, true);
    bytes[4] = 4; // uint8
    new DataView(bytes.buffer).setUint32(5, 1, true);
    new DataView(bytes.buffer).setUint32(9, n, true);
    new DataView(bytes.buffer).setUint32(13, n, true);
    const before = process.memoryUsage().arrayBuffers;
    d.push(bytes);
    for (let i = 0; i < 500; i++) {
      d.push(Uint8Array.of(i & 0xff)); // past the chunk limit: gathered as they come, not allocated in full
      expect(d.read()).toBeUndefined();
    }
    d.prepare();
    expect(d.directTarget()).toBeUndefined(); // no direct target before half of it is here
    d.push(new Uint8Array(4 * 1024 * 1024));
    expect(d.read()).toBeUndefined();
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('3 MiB records in 1000-byte and 1-byte-then-large chunks (gathered while under half, then copied into place) decode bit for bit', () => {
    const t = sampleTensor('float32', [768 * 1024], 9);
    const next = sampleTensor('int32', [5], 1);
    const rec = encodeTensor(t, { lengthPrefix: true });
    const both = new Uint8Array([...rec, ...encodeTensor(next, { lengthPrefix: true })]);
    for (const cut of [(_o: number) => 1000, (o: number) => (o < 10_000 ? 1 : 300_000)]) {
      const d = new FrameDecoder();
      const got: Tensor[] = [];
      for (let o = 0; o < both.length;) {
        const n = cut(o);
        d.push(both.slice(o, o + n));
        o += n;
        for (let x = d.read(); x !== undefined; x = d.read()) got.push(x);
      }
      expect(got.length).toBe(2);
      expectSameTensor(got[0], t);
      expectSameTensor(got[1], next);
    }
  });

  it('refuses a length prefix over maxMessageBytes at once, without allocating', () => {
    const d = new FrameDecoder({ maxMessageBytes: 1024 });
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, 300_000_000, true);
    d.push(prefix);
    const err = errorOfSync(() => d.read());
    expect(err?.code).toBe('ERR_TOO_LARGE');
    expect(err?.message).toContain('maxMessageBytes');
    // sticky: the stream cannot be resynchronised
    expect(errorOfSync(() => d.read())?.code).toBe('ERR_TOO_LARGE');
  });

  it('rejects a prefix that disagrees with its record (ERR_PROTOCOL)', () => {
    const rec = encodeTensor(tensor('uint8', [2], [1, 2]), { lengthPrefix: true });
    new DataView(rec.buffer, rec.byteOffset).setUint32(0, rec.length - 4 + 1, true);
    const d = new FrameDecoder();
    d.push(rec);
    expect(errorOfSync(() => d.read())?.code).toBe('ERR_PROTOCOL');
    const tiny = new FrameDecoder();
    tiny.push(Uint8Array.from([3, 0, 0, 0, 0, 0, 0]));
    expect(errorOfSync(() => tiny.read())?.code).toBe('ERR_PROTOCOL');
  });

  it('rejects an unknown dtype from its first byte, before the rest of the header arrives', () => {
    const d = new FrameDecoder();
    d.push(Uint8Array.from([20, 0, 0, 0, 99]));
    expect(errorOfSync(() => d.read())?.code).toBe('ERR_BAD_DTYPE');
  });

  it('gives every complete record of a cut tensors.bin, then ERR_TRUNCATED naming the offset', () => {
    const bytes = goldenFile('tensors.bin');
    const expected = expectedGoldenTensors();
    const starts = [0];
    for (const t of expected) starts.push(starts[starts.length - 1] + encodeTensor(t).length);
    const cuts = new Set<number>();
    for (let c = 0; c < 700; c++) cuts.add(c); // every byte of the small records
    for (let c = 700; c < bytes.length; c += 9973) cuts.add(c);
    for (const s of starts) [s - 1, s, s + 1, s + 13].forEach((c) => c > 0 && c < bytes.length && cuts.add(c));
    for (const cut of cuts) {
      const d = new FrameDecoder({ lengthPrefixed: false });
      d.push(bytes.subarray(0, cut));
      const got = drain(d);
      const complete = starts.filter((s, i) => i > 0 && s <= cut).length;
      expect([cut, got.length]).toEqual([cut, complete]);
      got.forEach((t, i) => expectSameTensor(t, expected[i]));
      const err = errorOfSync(() => d.end());
      if (starts.includes(cut)) {
        expect([cut, err]).toEqual([cut, undefined]);
      } else {
        expect([cut, err?.code]).toEqual([cut, 'ERR_TRUNCATED']);
        expect(err?.message).toContain(`byte ${starts[complete]}`);
      }
    }
  });

  it('copes with many tiny chunks of one large record (bounded chunk list)', () => {
    const t = sampleTensor('float32', [50_000], 8);
    const rec = encodeTensor(t, { lengthPrefix: true });
    const d = new FrameDecoder();
    let got: Tensor | undefined;
    for (let o = 0; o < rec.length; o += 3) {
      d.push(rec.subarray(o, o + 3));
      got ??= d.read();
    }
    expectSameTensor(got, t);
  });
});

describe('the end-of-stream marker (endMarker)', () => {
  const records = [tensor('int32', [2], [1, 2]), tensor('float32', [], [3])].map((t) => encodeTensor(t, { lengthPrefix: true }));
  const marker = new Uint8Array(4);

  it('records, then the marker: every tensor, then a clean end', () => {
    const d = new FrameDecoder({ endMarker: true });
    for (const r of records) d.push(r);
    d.push(marker);
    expect([d.read()?.dtype, d.read()?.dtype, d.read()]).toEqual(['int32', 'float32', undefined]);
    d.end();
  });

  it('records without the marker (a writer killed between two records): the tensors, then ERR_CONNECTION_LOST', () => {
    const d = new FrameDecoder({ endMarker: true });
    for (const r of records) d.push(r);
    expect([d.read()?.dtype, d.read()?.dtype, d.read()]).toEqual(['int32', 'float32', undefined]);
    const err = errorOfSync(() => d.end());
    expect(err?.code).toBe('ERR_CONNECTION_LOST');
    expect(err?.message).toMatch(/without the end-of-stream marker/);
  });

  it('bytes after the marker are ERR_PROTOCOL; without the option a zero length is ERR_PROTOCOL as before', () => {
    const d = new FrameDecoder({ endMarker: true });
    d.push(marker);
    d.push(records[0]);
    expect(errorOfSync(() => d.read())?.code).toBe('ERR_PROTOCOL');
    const plain = new FrameDecoder();
    plain.push(marker);
    expect(errorOfSync(() => plain.read())?.code).toBe('ERR_PROTOCOL');
  });
});

describe('small records share slabs without aliasing', () => {
  it('decoded and encoded small records never overlap, so writing one leaves the others intact', () => {
    const d = new FrameDecoder();
    for (let i = 0; i < 200; i++) d.push(encodeTensor(tensor('float64', [3], [i, i + 0.5, -i]), { lengthPrefix: true }));
    const got = drain(d);
    expect(got).toHaveLength(200);
    (got[0].data as Float64Array).fill(-7);
    got.slice(1).forEach((t, i) => expect(Array.from(t.data as Float64Array)).toEqual([i + 1, i + 1.5, -(i + 1)]));
    const a = encodeTensor(tensor('uint8', [3], [1, 2, 3]));
    const b = encodeTensor(tensor('uint8', [3], [4, 5, 6]));
    a.fill(0);
    expect(Array.from(decodeTensor(b).data as Uint8Array)).toEqual([4, 5, 6]);
    expect(got.every((t) => t.data.byteOffset % 8 === 0)).toBe(true);
  });
});

describe('direct reads (zero-copy receive)', () => {
  it('prepare() parses a large record header, directTarget() offers its memory, commitDirect() completes it', () => {
    const t = sampleTensor('float32', [100_000], 4);
    const rec = encodeTensor(t, { lengthPrefix: true });
    const d = new FrameDecoder();
    d.push(rec.subarray(0, 1000)); // header and the start of the data
    expect(d.directTarget()).toBeUndefined(); // header not parsed yet
    d.prepare();
    let target = d.directTarget()!;
    expect(target.length).toBe(rec.length - 1000);
    expect(target.byteOffset % 8).toBe((1000 - 17) % 8); // continues the aligned data buffer after 983 bytes
    let o = 1000;
    while (o < rec.length) {
      const n = Math.min(70_000, rec.length - o);
      target.set(rec.subarray(o, o + n));
      d.commitDirect(n);
      o += n;
      target = d.directTarget() ?? new Uint8Array(0);
    }
    expect(d.bytesReceived).toBe(rec.length);
    const got = d.read();
    expectSameTensor(got, t);
    expect(got!.data.byteOffset % 4).toBe(0);
    expect(d.read()).toBeUndefined();
    d.end();
  });

  it('a 4 MiB record gets its buffer at its header only once the stream has delivered as much before it', () => {
    const big = encodeTensor(sampleTensor('uint8', [4 * 1024 * 1024], 5), { lengthPrefix: true });
    const d = new FrameDecoder();
    d.push(big.subarray(0, 64 * 1024));
    d.prepare();
    expect(d.directTarget()).toBeUndefined(); // the first one: not on the strength of its header
    d.push(big.subarray(64 * 1024));
    expect(d.read()).toBeDefined();
    d.push(big.subarray(0, 64 * 1024)); // the next one, after 4 MiB delivered
    d.prepare();
    expect(d.directTarget()?.length).toBe(big.length - 64 * 1024);
  });

  it('offers nothing for small records or while queued bytes lie beyond the record', () => {
    const small = encodeTensor(tensor('uint8', [100]), { lengthPrefix: true });
    const d = new FrameDecoder();
    d.push(small.subarray(0, 30));
    d.prepare();
    expect(d.directTarget()).toBeUndefined();
    const big = encodeTensor(tensor('uint8', [200_000]), { lengthPrefix: true });
    const both = new FrameDecoder();
    const joined = new Uint8Array(big.length + small.length);
    joined.set(big);
    joined.set(small, big.length);
    both.push(joined);
    both.prepare();
    expect(both.directTarget()).toBeUndefined(); // everything is already here
    expect(both.read()?.shape).toEqual([200_000]);
    expect(both.read()?.shape).toEqual([100]);
  });

  it('a stream that ends after direct bytes is ERR_TRUNCATED at the record start', () => {
    const rec = encodeTensor(tensor('float64', [20_000]), { lengthPrefix: true });
    const d = new FrameDecoder();
    d.push(rec.subarray(0, 17));
    d.prepare();
    const target = d.directTarget()!;
    target.set(rec.subarray(17, 5017));
    d.commitDirect(5000);
    expect(d.read()).toBeUndefined();
    const err = errorOfSync(() => d.end());
    expect(err?.code).toBe('ERR_TRUNCATED');
    expect(err?.message).toContain('byte 4');
  });
});
