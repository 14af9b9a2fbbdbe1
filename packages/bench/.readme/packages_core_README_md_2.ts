// from packages/core/README.md, block 2
import type { Tensor } from '@harmonics/core';

interface Producer extends AsyncIterable<Tensor>, AsyncDisposable {
  next(options?: { signal?: AbortSignal }): Promise<Tensor | undefined>; // undefined = clean end
  readonly size?: number;
  close(): Promise<void>;
}
interface Consumer extends AsyncDisposable {
  push(tensor: Tensor, options?: { signal?: AbortSignal }): Promise<void>;
  close(): Promise<void>;
}

export {};
