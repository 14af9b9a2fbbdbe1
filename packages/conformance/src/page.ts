// The page's half of the bridge (page-bridge.ts): bundle it into a test page
// and call `installPageBridge` with an opener that makes the Producers and
// Consumers under test. Browser-only code: no Node built-ins, no jest.
import { type Consumer, type Producer, type Tensor, decodeTensor, encodeTensor } from '@harmonics/core';
import { type BridgeOutcome, fromBase64, toBase64 } from './page-bridge.js';

/** What an opener registers: the ends it made (by id, handed back to Node) and actions Node may ask for. */
export interface PageEnds {
  producers?: Producer[];
  consumers?: Consumer[];
  /** Anything JSON-serialisable Node should know; `ids` are filled in by the bridge. */
  info?: Record<string, unknown>;
}

export type PageOpener = (spec: unknown) => Promise<PageEnds> | PageEnds;
export type PageAction = (arg: unknown) => unknown;

function failed(err: unknown): BridgeOutcome {
  const e = err as { code?: unknown; message?: unknown };
  return { ok: false, code: typeof e?.code === 'string' ? e.code : undefined, message: String(e?.message ?? err) };
}

async function settle(run: () => Promise<BridgeOutcome>): Promise<BridgeOutcome> {
  try {
    return await run();
  } catch (err) {
    return failed(err);
  }
}

/** Install `window.harmonics`, the page's half of the bridge. */
export function installPageBridge(open: PageOpener, actions: Record<string, PageAction> = {}): void {
  const producers = new Map<number, Producer>();
  const consumers = new Map<number, Consumer>();
  const calls = new Map<number, AbortController>();
  let ids = 0;
  const signalFor = (call: number, aborted: boolean): AbortSignal => {
    const controller = new AbortController();
    if (aborted) controller.abort();
    calls.set(call, controller);
    return controller.signal;
  };
  const bridge = {
    open: (spec: unknown) =>
      settle(async () => {
        const ends = await open(spec);
        const p = (ends.producers ?? []).map((x) => (producers.set(++ids, x), ids));
        const c = (ends.consumers ?? []).map((x) => (consumers.set(++ids, x), ids));
        return { ok: true, value: { ...ends.info, producers: p, consumers: c } };
      }),
    next: (id: number, call: number, aborted: boolean) =>
      settle(async () => {
        const t: Tensor | undefined = await producers.get(id)!.next({ signal: signalFor(call, aborted) });
        return t === undefined ? { ok: true, end: true } : { ok: true, record: toBase64(encodeTensor(t)) };
      }).finally(() => calls.delete(call)),
    push: (id: number, record: string, call: number, aborted: boolean) =>
      settle(async () => {
        await consumers.get(id)!.push(decodeTensor(fromBase64(record)), { signal: signalFor(call, aborted) });
        return { ok: true };
      }).finally(() => calls.delete(call)),
    abort: (call: number) => calls.get(call)?.abort(),
    close: (id: number) =>
      settle(async () => {
        await (producers.get(id) ?? consumers.get(id))!.close();
        return { ok: true };
      }),
    act: (name: string, arg: unknown) =>
      settle(async () => {
        const action = actions[name];
        if (action === undefined) throw new Error(`the page has no action ${name}`);
        return { ok: true, value: await action(arg) };
      }),
  };
  (globalThis as unknown as { harmonics: typeof bridge }).harmonics = bridge;
}
