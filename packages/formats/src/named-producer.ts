import { type AbortOptions, type Tensor, BaseProducer } from '@harmonics/core';
import { closedError, throwIfAborted } from '@harmonics/internal';

/**
 * The tensors of a file, one per `next()`, read by name in the order of
 * `names` (what `SafetensorsFile.producer()` and `NpzFile.producer()` give).
 * Closing it stops it; the file stays open.
 */
export class NamedProducer extends BaseProducer {
  private index = 0;
  private done = false;
  /** The name of the tensor `next()` last returned. */
  name: string | undefined;

  constructor(
    /** Names in the order they come. */
    readonly names: readonly string[],
    private readonly readByName: (name: string, options?: AbortOptions) => Promise<Tensor>,
  ) {
    super();
  }

  /** How many tensors it yields. */
  get size(): number {
    return this.names.length;
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.done) throw closedError('the producer');
    throwIfAborted(options?.signal, 'next');
    if (this.index >= this.names.length) return undefined;
    const name = this.names[this.index];
    const t = await this.readByName(name, options);
    this.index++;
    this.name = name;
    return t;
  }

  close(): Promise<void> {
    this.done = true;
    return Promise.resolve();
  }
}
