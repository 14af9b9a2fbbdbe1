import { FrameDecoder, type Tensor, decodeTensor, encodeTensor, encodeTensorInto, tensor } from '@harmonics/core';
import { type Case, sink } from './harness.js';

const MiB = 1024 * 1024;

function floats(bytes: number): Tensor {
  const t = tensor('float32', [bytes / 4]);
  for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i] = i * 0.5;
  return t;
}

/** A record placed so its data section is 8-byte aligned (as FrameDecoder and the transports place them). */
function alignedRecord(t: Tensor): Uint8Array {
  const rec = encodeTensor(t);
  const headerLength = rec.length - t.data.byteLength;
  const pad = (8 - (headerLength % 8)) % 8;
  const out = new Uint8Array(new ArrayBuffer(pad + rec.length), pad, rec.length);
  out.set(rec);
  return out;
}

export function codecCases(): Case[] {
  const big = floats(4 * MiB);
  const bigBytes = new Uint8Array(big.data.buffer);
  const bigRecord = alignedRecord(big);
  const misaligned = encodeTensor(big);
  const reused = new Uint8Array(bigRecord.length + 64);
  const small = floats(1024);
  const smallBytes = new Uint8Array(small.data.buffer);
  const smallRecord = alignedRecord(small);

  // 64 KiB chunks of length-prefixed 1 KiB records, for the stream decoder.
  const framed: Uint8Array[] = [];
  {
    const all = new Uint8Array(1024 * (4 + smallRecord.length));
    let o = 0;
    for (let i = 0; i < 1024; i++) o = encodeTensorInto(small, all, o, { lengthPrefix: true });
    for (let c = 0; c < all.length; c += 64 * 1024) framed.push(all.subarray(c, c + 64 * 1024));
  }
  const framedBytes = framed.reduce((n, c) => n + c.length, 0);

  return [
    {
      name: 'codec.encode.4MiB',
      unit: 'MB/s',
      baseline: 'new Uint8Array + set of the same bytes',
      iterations: 30,
      runs: 15,
      subject: (n) => {
        for (let i = 0; i < n; i++) sink.value += encodeTensor(big).length;
        return n * bigRecord.length;
      },
      reference: (n) => {
        for (let i = 0; i < n; i++) {
          const out = new Uint8Array(bigRecord.length);
          out.set(bigBytes, bigRecord.length - bigBytes.length);
          sink.value += out.length;
        }
        return n * bigRecord.length;
      },
    },
    {
      name: 'codec.encodeInto.4MiB',
      unit: 'MB/s',
      baseline: 'set into a reused buffer',
      iterations: 40,
      subject: (n) => {
        for (let i = 0; i < n; i++) sink.value += encodeTensorInto(big, reused, 0);
        return n * bigRecord.length;
      },
      reference: (n) => {
        for (let i = 0; i < n; i++) reused.set(bigBytes, bigRecord.length - bigBytes.length);
        return n * bigRecord.length;
      },
    },
    {
      name: 'codec.decode.4MiB',
      unit: 'MB/s',
      baseline: 'new Uint8Array + set (one copy)',
      note: 'aligned record: a view, no copy',
      iterations: 20,
      subject: (n) => {
        // Zero-copy: time per call does not depend on size, so run many more calls per batch.
        const calls = n * 1000;
        for (let i = 0; i < calls; i++) sink.value += decodeTensor(bigRecord).data.length;
        return calls * bigRecord.length;
      },
      reference: (n) => {
        for (let i = 0; i < n; i++) {
          const out = new Uint8Array(bigBytes.length);
          out.set(bigRecord.subarray(bigRecord.length - bigBytes.length));
          sink.value += out.length;
        }
        return n * bigRecord.length;
      },
    },
    {
      name: 'codec.decode.4MiB.misaligned',
      unit: 'MB/s',
      baseline: 'new Uint8Array + set (one copy)',
      note: 'misaligned record: one copy',
      iterations: 20,
      subject: (n) => {
        for (let i = 0; i < n; i++) sink.value += decodeTensor(misaligned).data.length;
        return n * misaligned.length;
      },
      reference: (n) => {
        for (let i = 0; i < n; i++) {
          const out = new Uint8Array(bigBytes.length);
          out.set(misaligned.subarray(misaligned.length - bigBytes.length));
          sink.value += out.length;
        }
        return n * misaligned.length;
      },
    },
    {
      name: 'codec.encode.1KiB',
      unit: 'ops/s',
      baseline: 'new Uint8Array + set of the same bytes',
      iterations: 400_000,
      subject: (n) => {
        for (let i = 0; i < n; i++) sink.value += encodeTensor(small).length;
        return n;
      },
      reference: (n) => {
        for (let i = 0; i < n; i++) {
          const out = new Uint8Array(smallRecord.length);
          out.set(smallBytes, 13);
          sink.value += out.length;
        }
        return n;
      },
    },
    {
      name: 'codec.decode.1KiB',
      unit: 'ops/s',
      baseline: 'new Uint8Array + set of the same bytes',
      note: 'aligned record: a view, no copy',
      iterations: 400_000,
      subject: (n) => {
        for (let i = 0; i < n; i++) sink.value += decodeTensor(smallRecord).data.length;
        return n;
      },
      reference: (n) => {
        for (let i = 0; i < n; i++) {
          const out = new Uint8Array(smallBytes.length);
          out.set(smallRecord.subarray(13));
          sink.value += out.length;
        }
        return n;
      },
    },
    {
      name: 'framing.decode.1KiB',
      unit: 'ops/s',
      baseline: 'copying the same records out of the chunks',
      note: 'FrameDecoder over 64 KiB chunks, one copy per record',
      iterations: 200,
      subject: (n) => {
        for (let i = 0; i < n; i++) {
          const d = new FrameDecoder();
          for (const c of framed) {
            d.push(c);
            for (let t = d.read(); t !== undefined; t = d.read()) sink.value += t.data.length;
          }
        }
        return n * 1024;
      },
      reference: (n) => {
        const recordLength = 4 + smallRecord.length;
        const all = new Uint8Array(framedBytes);
        let o = 0;
        for (const c of framed) {
          all.set(c, o);
          o += c.length;
        }
        for (let i = 0; i < n; i++) {
          for (let r = 0; r < 1024; r++) {
            const out = new Uint8Array(smallBytes.length);
            out.set(all.subarray(r * recordLength + 17, (r + 1) * recordLength));
            sink.value += out.length;
          }
        }
        return n * 1024;
      },
    },
  ];
}
