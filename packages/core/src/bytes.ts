// Little-endian integer access on byte arrays. Plain index arithmetic rather
// than a DataView: no object per call in the per-record hot path, and every
// access spells its endianness here, once.

/** Read a little-endian u32 at `offset` (caller has checked bounds). */
export function readU32LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;
}

/** Write `value` as a little-endian u32 at `offset` (caller has checked bounds). */
export function writeU32LE(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = (value >>> 24) & 0xff;
}
