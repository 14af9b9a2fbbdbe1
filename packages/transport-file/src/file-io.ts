import { type FileHandle, open } from 'node:fs/promises';
import { HarmonicsError } from '@harmonics/core';

/**
 * Open a file for a producer or consumer. A file that cannot be opened is
 * `ERR_CONNECT` (the medium could not be reached), naming the path and the
 * system's reason.
 */
export async function openFile(path: string, flags: string, what: string): Promise<FileHandle> {
  try {
    return await open(path, flags);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new HarmonicsError('ERR_CONNECT', `cannot open ${what} ${JSON.stringify(path)}: ${code} (${(cause as Error).message})`, {
      cause,
    });
  }
}

/** Wrap a read/write failure on an open file as `ERR_CONNECTION_LOST`. */
export function ioError(cause: unknown, action: string, path: string): HarmonicsError {
  if (cause instanceof HarmonicsError) return cause;
  return new HarmonicsError('ERR_CONNECTION_LOST', `${action} ${JSON.stringify(path)} failed: ${(cause as Error)?.message ?? cause}`, {
    cause,
  });
}

/** Most buffers one writev takes (IOV_MAX on Linux). */
const IOV_MAX = 1024;

/**
 * Write `parts` in order with `writev` (no concatenation), in groups of at
 * most IOV_MAX buffers, resuming after short writes.
 */
export async function writeAll(fh: FileHandle, parts: readonly Uint8Array[]): Promise<void> {
  for (let i = 0; i < parts.length; i += IOV_MAX) {
    let rest = parts.slice(i, i + IOV_MAX);
    while (rest.length > 0) {
      let written = (await fh.writev(rest)).bytesWritten;
      // Drop what was written; a short write (rare on regular files) leaves the tail of one part.
      let k = 0;
      while (k < rest.length && written >= rest[k].length) written -= rest[k++].length;
      rest = rest.slice(k);
      if (written > 0) rest[0] = rest[0].subarray(written);
    }
  }
}
