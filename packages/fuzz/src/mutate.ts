// Seeded randomness and byte mutations: the same seed gives the same inputs on every machine.

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = () => number;

export const int = (rng: Rng, n: number): number => Math.floor(rng() * n);

const INTERESTING_U8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0c, 0x20];
const INTERESTING_U32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1 << 20, 1 << 28];

/** One to four mutations of `input` (never modified): bit flips, interesting bytes and u32s, cuts, insertions, duplications. */
export function mutate(input: Uint8Array, rng: Rng): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  const rounds = 1 + int(rng, 4);
  for (let r = 0; r < rounds; r++) {
    const n = b.length;
    switch (int(rng, 9)) {
      case 0:
      case 1: // flip bits
        if (n > 0) for (let k = 1 + int(rng, 4); k > 0; k--) b[int(rng, n)] ^= 1 << int(rng, 8);
        break;
      case 2: // an interesting byte
        if (n > 0) b[int(rng, n)] = INTERESTING_U8[int(rng, INTERESTING_U8.length)];
        break;
      case 3: {
        // an interesting little- or big-endian u32, or the input's own length nearby
        if (n < 4) break;
        const at = int(rng, n - 3);
        let v = rng() < 0.2 ? (n + int(rng, 9) - 4) >>> 0 : INTERESTING_U32[int(rng, INTERESTING_U32.length)];
        if (rng() < 0.1) v = Math.floor(rng() * 2 ** 32);
        const le = rng() < 0.7;
        for (let i = 0; i < 4; i++) b[at + i] = (v >>> (8 * (le ? i : 3 - i))) & 0xff;
        break;
      }
      case 4: // truncate
        b = b.subarray(0, int(rng, n + 1));
        break;
      case 5: {
        // append random bytes
        const extra = new Uint8Array(1 + int(rng, 64));
        for (let i = 0; i < extra.length; i++) extra[i] = int(rng, 256);
        b = concat(b, extra);
        break;
      }
      case 6: {
        // insert random bytes
        const at = int(rng, n + 1);
        const extra = new Uint8Array(1 + int(rng, 16));
        for (let i = 0; i < extra.length; i++) extra[i] = int(rng, 256);
        b = concat(b.subarray(0, at), extra, b.subarray(at));
        break;
      }
      case 7: {
        // duplicate a slice
        if (n === 0) break;
        const from = int(rng, n);
        const len = 1 + int(rng, Math.min(64, n - from));
        const at = int(rng, n + 1);
        b = concat(b.subarray(0, at), b.slice(from, from + len), b.subarray(at));
        break;
      }
      default: {
        // delete a slice
        if (n === 0) break;
        const from = int(rng, n);
        const len = 1 + int(rng, Math.min(64, n - from));
        b = concat(b.subarray(0, from), b.subarray(from + len));
      }
    }
  }
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
