// Driving Producers and Consumers that live in a browser page from a Node
// test, so the conformance suite runs against browser code in real Chromium.
// The page installs the other half with `installPageBridge` (from
// '@harmonics/conformance/page'). Each call is forwarded as it comes,
// overlapping calls and aborts included; tensors cross as wire records
// (DESIGN §4) in base64, errors as their code and message.
import { type AbortOptions, type Consumer, HarmonicsError, type Producer, type Tensor, decodeTensor, encodeTensor } from '@harmonics/core';

/** The part of a Playwright `Page` the bridge uses. */
export interface PageLike {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Playwright's evaluate() is generic over any serialisable argument
  evaluate(fn: (arg: any) => unknown, arg?: any): Promise<any>;
}

/** What the page's bridge answers: a result, or an error's code and message. */
export type BridgeOutcome = { ok: true; record?: string; end?: boolean; value?: unknown } | { ok: false; code?: string; message: string };

/** `window.harmonics` in the page (see `installPageBridge`). */
export interface PageBridge {
  open(spec: unknown): Promise<BridgeOutcome>;
  next(id: number, call: number, aborted: boolean): Promise<BridgeOutcome>;
  push(id: number, record: string, call: number, aborted: boolean): Promise<BridgeOutcome>;
  abort(call: number): void;
  close(id: number): Promise<BridgeOutcome>;
  act(name: string, arg: unknown): Promise<BridgeOutcome>;
}
type Win = { harmonics: PageBridge };

let calls = 0;

/** The value of an outcome, or its error as a HarmonicsError (when it had a code). */
export function settledOutcome(o: BridgeOutcome, what: string): BridgeOutcome & { ok: true } {
  if (o.ok) return o;
  if (o.code !== undefined) throw new HarmonicsError(o.code as never, `${what} in the page: ${o.message}`);
  throw new Error(`${what} in the page: ${o.message}`);
}

function forwardAbort(page: PageLike, signal: AbortSignal | undefined, call: number): () => void {
  if (signal === undefined) return () => undefined;
  const onAbort = (): void => void page.evaluate((c: number) => (window as unknown as Win).harmonics.abort(c), call).catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** Open what the page's opener makes of `spec`; resolves with its answer (ids of the ends it made). */
export async function openInPage<T>(page: PageLike, spec: unknown): Promise<T> {
  const o = await page.evaluate((s: unknown) => (window as unknown as Win).harmonics.open(s), spec);
  return settledOutcome(o, 'open()').value as T;
}

/** Run the page opener's action `name` (e.g. make a worker fail). */
export async function actInPage(page: PageLike, name: string, arg?: unknown): Promise<unknown> {
  const o = await page.evaluate(([n, a]: [string, unknown]) => (window as unknown as Win).harmonics.act(n, a), [name, arg]);
  return settledOutcome(o, name).value;
}

/** A Producer whose calls run on a Producer in the page. */
export class PageProducer implements Producer {
  constructor(
    private readonly page: PageLike,
    private readonly id: number,
  ) {}

  async next(options?: AbortOptions): Promise<Tensor | undefined> {
    const call = ++calls;
    const aborted = options?.signal?.aborted === true;
    const pending = this.page.evaluate(
      ([id, c, a]: [number, number, boolean]) => (window as unknown as Win).harmonics.next(id, c, a),
      [this.id, call, aborted],
    );
    const detach = forwardAbort(this.page, options?.signal, call);
    try {
      const o = settledOutcome(await pending, 'next()');
      return o.end === true ? undefined : decodeTensor(fromBase64(o.record!));
    } finally {
      detach();
    }
  }

  async close(): Promise<void> {
    settledOutcome(await this.page.evaluate((id: number) => (window as unknown as Win).harmonics.close(id), this.id), 'close()');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Tensor> {
    try {
      for (let t = await this.next(); t !== undefined; t = await this.next()) yield t;
    } finally {
      await this.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A Consumer whose calls run on a Consumer in the page. */
export class PageConsumer implements Consumer {
  constructor(
    private readonly page: PageLike,
    private readonly id: number,
  ) {}

  async push(t: Tensor, options?: AbortOptions): Promise<void> {
    const call = ++calls;
    const record = toBase64(encodeTensor(t));
    const aborted = options?.signal?.aborted === true;
    const pending = this.page.evaluate(
      ([id, r, c, a]: [number, string, number, boolean]) => (window as unknown as Win).harmonics.push(id, r, c, a),
      [this.id, record, call, aborted],
    );
    const detach = forwardAbort(this.page, options?.signal, call);
    try {
      settledOutcome(await pending, 'push()');
    } finally {
      detach();
    }
  }

  async close(): Promise<void> {
    settledOutcome(await this.page.evaluate((id: number) => (window as unknown as Win).harmonics.close(id), this.id), 'close()');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Base64 of `bytes` (both sides of the bridge use the same two functions). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
