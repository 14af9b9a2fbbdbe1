// Small buffers carved from shared 64 KiB slabs, as Node's Buffer pool does:
// a fresh off-heap ArrayBuffer costs far more than the copy into it for small
// records (about 600 ns for 1 KiB here). Regions are never reused, so they
// start zeroed and no two live views overlap; a slab is freed when the last
// view into it is gone. Each region starts 8-byte aligned.

const SLAB_BYTES = 64 * 1024;

/** Requests above this size get an ArrayBuffer of their own. */
export const MAX_SLAB_ALLOCATION = 4 * 1024;

let slab: ArrayBuffer | undefined;
let slabUsed = 0;

/**
 * `byteLength` zeroed bytes starting at an 8-byte-aligned offset: a view into a
 * shared slab when small, a buffer of its own otherwise.
 */
export function allocAligned(byteLength: number): Uint8Array {
  if (byteLength > MAX_SLAB_ALLOCATION) return new Uint8Array(byteLength);
  if (slab === undefined || slabUsed + byteLength > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, byteLength);
  slabUsed = (slabUsed + byteLength + 7) & ~7;
  return out;
}
