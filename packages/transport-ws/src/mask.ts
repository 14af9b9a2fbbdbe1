// WebSocket masking (RFC 6455 §5.3) for the frames we parse and build
// ourselves in Node: XOR in place, and masking keys from a pool of random
// bytes refilled by the system's CSPRNG, as `ws` does.
import { randomFillSync } from 'node:crypto';

const scratch = new Uint8Array(4);
const scratchWord = new Uint32Array(scratch.buffer);
/**
 * A word view of the last buffer masked: frames come many to a socket chunk
 * or a send block, so this is one view per buffer rather than per frame. It
 * keeps that one buffer alive until the next is masked.
 */
let lastBuffer: ArrayBufferLike | undefined;
let lastWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * XOR `b[start, end)` in place with the 4-byte masking key at `b[mask]`
 * (RFC 6455 §5.3), a word at a time where aligned. Masks and unmasks.
 */
export function xorMask(b: Uint8Array, start: number, end: number, mask: number): void {
  let i = start;
  for (; i < end && ((b.byteOffset + i) & 3) !== 0; i++) b[i]! ^= b[mask + ((i - start) & 3)]!;
  const words = (end - i) >> 2;
  if (words > 0) {
    // The mask as a native-endian word, rotated to where the first aligned byte falls.
    const r = i - start;
    for (let j = 0; j < 4; j++) scratch[j] = b[mask + ((r + j) & 3)]!;
    const m = scratchWord[0]!;
    if (b.buffer !== lastBuffer) {
      lastBuffer = b.buffer;
      lastWords = new Uint32Array(b.buffer, 0, b.buffer.byteLength >> 2);
    }
    const first = (b.byteOffset + i) >> 2;
    for (let k = first; k < first + words; k++) lastWords[k]! ^= m;
    i += words * 4;
  }
  for (; i < end; i++) b[i]! ^= b[mask + ((i - start) & 3)]!;
}

const POOL_BYTES = 8 * 1024;
const pool = new Uint8Array(POOL_BYTES);
let poolAt = POOL_BYTES;

/** Write a fresh, unpredictable 4-byte masking key to `b[at]`. */
export function writeMaskKey(b: Uint8Array, at: number): void {
  if (poolAt === POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  b[at] = pool[poolAt]!;
  b[at + 1] = pool[poolAt + 1]!;
  b[at + 2] = pool[poolAt + 2]!;
  b[at + 3] = pool[poolAt + 3]!;
  poolAt += 4;
}
