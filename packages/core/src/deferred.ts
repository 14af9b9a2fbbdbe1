import { noop, raceSignals } from './abort.js';
import { BaseConsumer, BaseProducer } from './base.js';
import type { AbortOptions, Consumer, Producer } from './contract.js';
import { closedError } from './errors.js';
import type { Tensor } from './tensor.js';

/** Opens the real Producer/Consumer (e.g. waits for a peer to connect); `signal` aborts when the wrapper is closed first. */
export type Opener<T> = (signal: AbortSignal) => Promise<T>;

/**
 * A Producer whose medium is opened in the background (a listener waiting for
 * its peer): `next()` waits for it, then reads from it. `close()` closes it if
 * it opened, abandons the opening otherwise, then runs `release` (close the
 * listener). An opening that fails rejects every `next()` with its error.
 */
export class DeferredProducer extends BaseProducer {
  private readonly opening: Promise<Producer>;
  private readonly closing = new AbortController();
  private inner: Producer | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    open: Opener<Producer>,
    private readonly release: () => Promise<void>,
    private readonly what: string,
  ) {
    super();
    this.opening = open(this.closing.signal).then((p) => (this.inner = p));
    this.opening.catch(noop);
  }

  get size(): number | undefined {
    return this.inner?.size;
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.closed) throw closedError(this.what);
    const inner = this.inner ?? (await raceSignals(this.opening, options?.signal, 'next()', this.closing.signal, this.what));
    return inner.next(options);
  }

  close(): Promise<void> {
    return (this.closed ??= closeDeferred(this.closing, this.opening, this.release));
  }

  override toString(): string {
    return this.what;
  }
}

/**
 * The Consumer counterpart of {@link DeferredProducer}: `push()` waits for the
 * medium to open. `close()` first waits up to `graceMs` for a medium that has
 * not opened yet (a peer still connecting), so that peer too sees a clean end.
 */
export class DeferredConsumer extends BaseConsumer {
  private readonly opening: Promise<Consumer>;
  private readonly closing = new AbortController();
  private inner: Consumer | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    open: Opener<Consumer>,
    private readonly release: () => Promise<void>,
    private readonly what: string,
    private readonly graceMs = 0,
  ) {
    super();
    this.opening = open(this.closing.signal).then((c) => (this.inner = c));
    this.opening.catch(noop);
  }

  async push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) throw closedError(this.what);
    const inner = this.inner ?? (await raceSignals(this.opening, options?.signal, 'push()', this.closing.signal, this.what));
    return inner.push(t, options);
  }

  close(): Promise<void> {
    return (this.closed ??= closeDeferred(this.closing, this.opening, this.release, this.inner ? 0 : this.graceMs));
  }

  override toString(): string {
    return this.what;
  }
}

async function closeDeferred(
  closing: AbortController,
  opening: Promise<Producer | Consumer>,
  release: () => Promise<void>,
  graceMs = 0,
): Promise<void> {
  if (graceMs > 0) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([opening.catch(noop), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }
  closing.abort();
  try {
    const inner = await opening.catch(() => undefined);
    await inner?.close();
  } finally {
    await release();
  }
}
