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
