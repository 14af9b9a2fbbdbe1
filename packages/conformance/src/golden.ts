import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseRecordHeader } from '@harmonics/internal';

/**
 * Directory of the C++ reference golden files: `$HARMONICS_TESTDATA`, else
 * `testdata/cpp-reference` in the repository. Throws (so tests fail, never
 * skip) when the files are not there.
 */
export function goldenDir(): string {
  const fromEnv = process.env.HARMONICS_TESTDATA;
  if (fromEnv) return fromEnv;
  let dir = __dirname;
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (pnpm-workspace.yaml) above ' + __dirname);
    dir = up;
  }
  const golden = resolve(dir, 'testdata/cpp-reference');
  if (!existsSync(join(golden, 'tensors.bin'))) {
    throw new Error(`golden files not found at ${golden}; set HARMONICS_TESTDATA to their directory`);
  }
  return golden;
}

/** The bytes of one golden file, e.g. `goldenFile('tensors.bin')`. */
export function goldenFile(name: string): Uint8Array {
  const buf = readFileSync(join(goldenDir(), name));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The records of the golden `tensors.bin`, each a view of its bytes (no length prefix). */
export function goldenRecords(): Uint8Array[] {
  const bytes = goldenFile('tensors.bin');
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length;) {
    const h = parseRecordHeader(bytes, o, bytes.length - o);
    if (typeof h === 'number') throw new Error(`golden tensors.bin is cut short at byte ${o}`);
    out.push(bytes.subarray(o, o + h.headerLength + h.byteLength));
    o += h.headerLength + h.byteLength;
  }
  return out;
}
