// Small buffers carved from shared 64 KiB slabs, as Node's Buffer pool does:
// a fresh off-heap ArrayBuffer costs far more than the copy into it for small
// records (about 600 ns for 1 KiB here). Regions are never reused, so they
// start zeroed and no two live views overlap; a slab is freed when the last
// view into it is gone. Each region starts 8-byte aligned.

const SLAB_BYTES = 64 * 1024;

/** Requests above this size get an ArrayBuffer of their own. */
export const MAX_SLAB_ALLOCATION = 4 * 1024;

let slab: ArrayBuffer | undefined;
let slabBytes: Uint8Array | undefined;
let slabUsed = 0;

function newSlab(): void {
  slab = new ArrayBuffer(SLAB_BYTES);
  slabBytes = new Uint8Array(slab);
  slabUsed = 0;
}

/**
 * `byteLength` zeroed bytes starting at an 8-byte-aligned offset: a view into a
 * shared slab when small, a buffer of its own otherwise.
 */
export function allocAligned(byteLength: number): Uint8Array {
  if (byteLength > MAX_SLAB_ALLOCATION) return new Uint8Array(byteLength);
  if (slab === undefined || slabUsed + byteLength > SLAB_BYTES) newSlab();
  const out = new Uint8Array(slab!, slabUsed, byteLength);
  slabUsed = (slabUsed + byteLength + 7) & ~7;
  return out;
}

/**
 * Copy `src[start, end)` into a slab so that `src[aligned]` lands on an
 * 8-byte boundary, creating no view on the way; returns the slab's buffer and
 * that boundary's offset. For small misaligned records (`end - start` at most
 * {@link MAX_SLAB_ALLOCATION} + 7 bytes of header).
 */
export function copyToSlab(src: Uint8Array, start: number, aligned: number, end: number): [buffer: ArrayBuffer, offset: number] {
  const lead = aligned - start;
  const need = ((lead + 7) & ~7) + (end - aligned);
  if (slab === undefined || slabUsed + need > SLAB_BYTES) newSlab();
  const at = slabUsed + (((lead + 7) & ~7) - lead);
  if (start === 0 && end === src.length) slabBytes!.set(src, at);
  else slabBytes!.set(src.subarray(start, end), at);
  slabUsed = (slabUsed + need + 7) & ~7;
  return [slab!, at + lead];
}
