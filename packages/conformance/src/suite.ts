import { type Consumer, type Producer, type Tensor, isHarmonicsError, tensor } from '@harmonics/core';
import { everyDtypeSamples, expectSameTensor, sampleTensor } from './fixtures.js';

/** What a transport's `setup` returns: a connected pair, and how to take it down. */
export interface TransportPair {
  producer: Producer;
  consumer: Consumer;
  /** Release everything the pair holds (servers, files). Called after every test. */
  teardown?: () => Promise<void>;
  /**
   * Make the writing peer vanish abruptly, as a crashed process would: no
   * clean close, ideally in the middle of a record. Needed for `peerLoss`.
   */
  disconnect?: () => Promise<void>;
}

/** Options the suite passes to `setup`. */
export interface SetupOptions {
  /** Limit both sides to this record size. */
  maxMessageBytes?: number;
}

/** What the medium can do; anything it lacks is skipped by name, never passed silently. */
export interface TransportCapabilities {
  /** `setup` honours `maxMessageBytes` and the consumer refuses larger tensors. Default true. */
  maxMessageBytes?: boolean;
  /** The pair provides `disconnect()`. Default false. */
  peerLoss?: boolean;
  /** Error codes acceptable from `next()` after the peer vanished. Default `['ERR_CONNECTION_LOST', 'ERR_TRUNCATED']`. */
  peerLossCodes?: string[];
  /** A 64 MiB tensor fits. Default true. */
  largeTensors?: boolean;
  /**
   * `'copy'` (default): after `push()` resolves, mutating the tensor does not
   * change what is delivered. `'reference'`: the medium hands the same object on
   * (the in-process bus), so the ownership check is skipped. `'bridged'`: the
   * pair runs elsewhere (a browser page) and tensors cross a bridge as copies,
   * so a mutation could not reach the pushed tensor: skipped too.
   */
  ownership?: 'copy' | 'reference' | 'bridged';
  /** What an aborted `next()` leaves behind: `'usable'` (default) or `'closed'`. */
  afterAbort?: 'usable' | 'closed';
  /**
   * A reader that stops reading holds the writer back: `push()` stops
   * resolving before `maxBufferedBytes` are buffered between the two (the
   * transport's high-water marks, queues and kernel buffers together).
   * `false` where the medium takes everything (a file, an unbounded bus).
   * Default `{ maxBufferedBytes: 64 MiB }`.
   */
  backpressure?: false | { maxBufferedBytes: number };
  /** Closing both sides and `teardown` leave no handle or timer that keeps the process alive. Default true. */
  releasesHandles?: boolean;
  /**
   * The producer reads while the consumer is still writing. False for a
   * write-then-read medium (a file read by `FileProducer` once it is
   * complete): tests that read before the consumer closes are skipped.
   * Default true.
   */
  readsWhileWriting?: boolean;
}

/** Handles and timers that keep the process alive, by kind (`TCPSocketWrap`, `Timeout`, …). */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  const info = (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.() ?? [];
  for (const kind of info) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Kinds of which more are active now than in `before`. */
function leftOver(before: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [kind, n] of activeResources()) if (n > (before.get(kind) ?? 0)) out.push(`${n - (before.get(kind) ?? 0)} × ${kind}`);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Arguments of {@link runTransportSuite}. */
export interface TransportSuiteOptions {
  name: string;
  setup: (options?: SetupOptions) => Promise<TransportPair>;
  capabilities?: TransportCapabilities;
  /** Per-test timeout (ms); default 60 s. */
  timeoutMs?: number;
}

async function expectCode(promise: Promise<unknown>, codes: string[]): Promise<void> {
  let result: unknown;
  try {
    result = await promise;
  } catch (err) {
    if (isHarmonicsError(err) && codes.includes(err.code)) return;
    throw new Error(`expected a HarmonicsError with code ${codes.join(' or ')}, got ${String(err)} (code ${(err as { code?: string })?.code})`);
  }
  throw new Error(`expected rejection with ${codes.join(' or ')}, but it resolved with ${String(result)}`);
}

/** Resolve with the promise, or reject if it takes longer than `ms` (a hang is a failure, not a timeout of the test). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (hang)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Push every tensor, then close the consumer, while reading concurrently; returns what was read.
 * A transfer that hangs fails after `ms`, saying how far each side got.
 */
async function transfer(pair: TransportPair, tensors: Tensor[], ms = 45_000): Promise<(Tensor | undefined)[]> {
  let pushed = 0;
  let closed = false;
  const writing = (async () => {
    for (const t of tensors) {
      await pair.consumer.push(t);
      pushed++;
    }
    await pair.consumer.close();
    closed = true;
  })();
  const received: (Tensor | undefined)[] = [];
  const reading = (async () => {
    for (let i = 0; i < tensors.length; i++) received.push(await pair.producer.next());
    received.push(await pair.producer.next());
  })();
  const state = () =>
    `pushed ${pushed} of ${tensors.length}${closed ? ' and closed' : ''}, read ${received.length} of ${tensors.length + 1} (the end included)`;
  await within(Promise.all([writing, reading]), ms, `a transfer of ${tensors.length} tensors`).catch((err: Error) => {
    throw /hang/.test(err.message) ? new Error(`${err.message}: ${state()}`) : err;
  });
  return received;
}

/**
 * Register the shared conformance tests (jest `describe`/`it`) for one
 * transport. Each test gets a fresh pair from `setup` and tears it down.
 */
export function runTransportSuite(options: TransportSuiteOptions): void {
  const caps = options.capabilities ?? {};
  const timeout = options.timeoutMs ?? 60_000;
  const supports =
    (flag: boolean, capability: string) =>
    (title: string, fn: () => Promise<void>, ms?: number): void => {
      if (flag) it(title, fn, ms);
      else it.skip(`${title} [skipped: medium lacks ${capability}]`, fn);
    };

  describe(`${options.name} conformance`, () => {
    let pair: TransportPair | undefined;
    const open = async (o?: SetupOptions) => (pair = await options.setup(o));

    afterEach(async () => {
      const p = pair;
      pair = undefined;
      if (!p) return;
      await Promise.allSettled([p.producer.close(), p.consumer.close()]);
      await p.teardown?.();
    });

    it(
      'round-trips every dtype bit-exactly (NaN payloads, -0, extremes)',
      async () => {
        const p = await open();
        const sent = everyDtypeSamples();
        const got = await transfer(p, sent);
        sent.forEach((t, i) => expectSameTensor(got[i], t));
        expect(got[sent.length]).toBeUndefined();
      },
      timeout,
    );

    it(
      'round-trips scalar and zero-size shapes',
      async () => {
        const p = await open();
        const sent = [tensor('float32', [], [3.5]), tensor('float32', [0]), tensor('int64', [3, 0, 2]), tensor('uint8', [1, 1, 1], [7])];
        const got = await transfer(p, sent);
        sent.forEach((t, i) => expectSameTensor(got[i], t));
        expect(got[sent.length]).toBeUndefined();
      },
      timeout,
    );

    supports(caps.largeTensors !== false, 'large tensors')(
      'moves a 64 MiB tensor intact',
      async () => {
        const p = await open();
        const big = sampleTensor('float32', [16, 1024, 1024], 42);
        const got = await transfer(p, [big], 100_000);
        expectSameTensor(got[0], big);
        expect(got[1]).toBeUndefined();
      },
      Math.max(timeout, 120_000),
    );

    it(
      'keeps the order of 10,000 small tensors',
      async () => {
        const p = await open();
        const n = 10_000;
        const writing = (async () => {
          for (let i = 0; i < n; i++) await p.consumer.push(tensor('int32', [2], [i, -i]));
          await p.consumer.close();
        })();
        let bad: string | undefined;
        for (let i = 0; i < n; i++) {
          const t = await p.producer.next();
          if (bad === undefined && (t === undefined || t.data[0] !== i || t.data[1] !== -i)) {
            bad = `tensor ${i} was ${t === undefined ? 'missing' : `[${Array.from(t.data as Int32Array)}]`}`;
          }
        }
        await writing;
        expect(bad).toBeUndefined();
        expect(await p.producer.next()).toBeUndefined();
      },
      timeout,
    );

    it(
      'next() resolves undefined after the consumer closes, and keeps doing so',
      async () => {
        const p = await open();
        const a = sampleTensor('float64', [4], 3);
        const got = await transfer(p, [a]);
        expectSameTensor(got[0], a);
        expect(got[1]).toBeUndefined();
        expect(await within(p.producer.next(), 10_000, 'next() after the end')).toBeUndefined();
      },
      timeout,
    );

    it(
      'push() after close() rejects ERR_CLOSED; close() is idempotent',
      async () => {
        const p = await open();
        const reading = p.producer.next();
        await p.consumer.close();
        await p.consumer.close();
        await expectCode(p.consumer.push(tensor('uint8', [1])), ['ERR_CLOSED']);
        expect(await reading).toBeUndefined();
      },
      timeout,
    );

    supports(caps.readsWhileWriting !== false, 'reading while the writer writes')(
      'next() after the producer closes rejects ERR_CLOSED; for-await break closes it',
      async () => {
        const p = await open();
        const writing = (async () => {
          for (let i = 0; i < 3; i++) await p.consumer.push(tensor('int32', [1], [i]));
        })();
        let seen = 0;
        for await (const t of p.producer) {
          expect(t.data[0]).toBe(0);
          seen++;
          break;
        }
        expect(seen).toBe(1);
        await expectCode(p.producer.next(), ['ERR_CLOSED']);
        await p.producer.close();
        await Promise.race([writing.catch(() => undefined), new Promise((r) => setTimeout(r, 100))]);
      },
      timeout,
    );

    supports(
      caps.ownership === undefined || caps.ownership === 'copy',
      caps.ownership === 'bridged'
        ? 'a way to mutate the tensor it pushed (the pair is driven through a bridge that copies tensors, as to a browser page)'
        : 'copy-on-push ownership (tensors pass by reference)',
    )(
      'the caller may reuse a tensor once push() resolves',
      async () => {
        const p = await open();
        const small = tensor('float32', [4], [1, 2, 3, 4]);
        const large = sampleTensor('float32', [64, 1024], 9);
        const largeCopy = tensor('float32', [64, 1024], (large.data as Float32Array).slice());
        const reading = (async () => [await p.producer.next(), await p.producer.next()])();
        await p.consumer.push(small);
        (small.data as Float32Array).fill(-1);
        await p.consumer.push(large);
        (large.data as Float32Array).fill(-1);
        await p.consumer.close();
        const [a, b] = await reading;
        expectSameTensor(a, tensor('float32', [4], [1, 2, 3, 4]));
        expectSameTensor(b, largeCopy);
      },
      timeout,
    );

    it(
      'an already-aborted push() rejects ERR_ABORTED and sends nothing',
      async () => {
        const p = await open();
        const ac = new AbortController();
        ac.abort(new Error('caller gave up'));
        await expectCode(p.consumer.push(tensor('int32', [1], [1]), { signal: ac.signal }), ['ERR_ABORTED']);
        const good = tensor('int32', [1], [2]);
        const got = await transfer(p, [good]);
        expectSameTensor(got[0], good);
        expect(got[1]).toBeUndefined();
      },
      timeout,
    );

    it(
      `a next() aborted while waiting rejects ERR_ABORTED and leaves the producer ${caps.afterAbort ?? 'usable'}`,
      async () => {
        const p = await open();
        const ac = new AbortController();
        const waiting = p.producer.next({ signal: ac.signal });
        setTimeout(() => ac.abort(), 20);
        await within(expectCode(waiting, ['ERR_ABORTED']), 10_000, 'aborted next()');
        if ((caps.afterAbort ?? 'usable') === 'usable') {
          const t = tensor('float32', [2], [5, 6]);
          const got = await transfer(p, [t]);
          expectSameTensor(got[0], t);
          expect(got[1]).toBeUndefined();
        } else {
          await expectCode(p.producer.next(), ['ERR_CLOSED']);
        }
      },
      timeout,
    );

    supports(caps.peerLoss === true, 'a way to make the peer vanish')(
      'a peer that vanishes makes next() reject, not hang',
      async () => {
        const p = await open();
        const first = tensor('int32', [2], [1, 2]);
        await p.consumer.push(first);
        expectSameTensor(await within(p.producer.next(), 10_000, 'next()'), first);
        await p.disconnect!();
        const codes = caps.peerLossCodes ?? ['ERR_CONNECTION_LOST', 'ERR_TRUNCATED'];
        await within(expectCode(p.producer.next(), codes), 15_000, 'next() after the peer vanished');
      },
      timeout,
    );

    supports(caps.maxMessageBytes !== false, 'a message size limit')(
      'a tensor over maxMessageBytes is refused with ERR_TOO_LARGE and nothing is lost',
      async () => {
        const p = await open({ maxMessageBytes: 64 * 1024 });
        await expectCode(p.consumer.push(tensor('uint8', [128 * 1024])), ['ERR_TOO_LARGE']);
        const ok = sampleTensor('uint8', [1000], 5);
        const got = await transfer(p, [ok]);
        expectSameTensor(got[0], ok);
        expect(got[1]).toBeUndefined();
      },
      timeout,
    );

    it(
      'close() while a next() waits rejects it ERR_CLOSED, at once',
      async () => {
        const p = await open();
        const waiting = p.producer.next();
        await sleep(50);
        await within(p.producer.close(), 10_000, 'close()');
        await within(expectCode(waiting, ['ERR_CLOSED']), 5_000, 'the pending next()');
        await expectCode(p.producer.next(), ['ERR_CLOSED']);
      },
      timeout,
    );

    it(
      'overlapping next() calls resolve in order, and a returned tensor stays intact after later reads',
      async () => {
        const p = await open();
        const n = 24;
        const sent = Array.from({ length: 2 * n }, (_, i) => sampleTensor(i % 2 === 0 ? 'float32' : 'int16', [i % 3 === 0 ? 4096 : 7], i + 1));
        const first = Array.from({ length: n }, () => p.producer.next());
        const writing = (async () => {
          for (const t of sent) await p.consumer.push(t);
          await p.consumer.close();
        })();
        const got = await within(Promise.all(first), 20_000, 'overlapping next() calls');
        const copies = got.map((t) => t && { ...t, data: t.data.slice() });
        for (let i = n; i < 2 * n; i++) expectSameTensor(await p.producer.next(), sent[i]);
        expect(await p.producer.next()).toBeUndefined();
        await writing;
        got.forEach((t, i) => {
          expectSameTensor(t, sent[i]);
          expectSameTensor(t, copies[i] as Tensor); // unchanged by the reads after it
        });
      },
      timeout,
    );

    supports(caps.backpressure !== false, 'backpressure (the medium takes everything)')(
      'a reader that stops reading holds the writer back; everything arrives in order once it reads again',
      async () => {
        const p = await open();
        const limit = caps.backpressure === false ? 0 : (caps.backpressure?.maxBufferedBytes ?? 64 * 1024 * 1024);
        const size = 16 * 1024; // int32 elements: 64 KiB of data per tensor
        let pushed = 0;
        let stalled: Promise<void> | undefined;
        while (pushed * size * 4 <= limit + size * 4) {
          const t = tensor('int32', [size]);
          (t.data as Int32Array).fill(pushed);
          const push = p.consumer.push(t);
          const outcome = await Promise.race([push.then(() => 'taken'), sleep(2000).then(() => 'waiting')]);
          if (outcome === 'waiting') {
            stalled = push;
            break;
          }
          pushed++;
        }
        if (stalled === undefined) throw new Error(`push() kept resolving past ${limit} bytes with nobody reading`);
        const total = pushed + 1;
        const reading = (async () => {
          for (let i = 0; i < total; i++) {
            const t = await p.producer.next();
            if (t === undefined || t.data[0] !== i || t.data[size - 1] !== i)
              throw new Error(`tensor ${i} was ${t === undefined ? 'missing' : `[${t.data[0]}…]`}`);
          }
          return p.producer.next();
        })();
        await within(stalled, 30_000, 'the waiting push() once the reader reads');
        await p.consumer.close();
        expect(await within(reading, 60_000, 'reading what was held back')).toBeUndefined();
      },
      Math.max(timeout, 120_000),
    );

    supports(caps.releasesHandles !== false, 'a clean release of its handles')(
      'closing both sides leaves no handle or timer that keeps the process alive',
      async () => {
        const before = activeResources();
        const p = await open();
        const t = tensor('int32', [3], [1, 2, 3]);
        expectSameTensor((await transfer(p, [t]))[0], t);
        await p.producer.close();
        await p.teardown?.();
        pair = undefined;
        let left = leftOver(before);
        for (let i = 0; i < 50 && left.length > 0; i++) {
          await sleep(100);
          left = leftOver(before);
        }
        expect(left).toEqual([]);
      },
      timeout,
    );

    it(
      'works with await using (Symbol.asyncDispose closes both sides)',
      async () => {
        const p = await open();
        expect(typeof p.producer[Symbol.asyncDispose]).toBe('function');
        expect(typeof p.consumer[Symbol.asyncDispose]).toBe('function');
        await p.consumer[Symbol.asyncDispose]();
        await expectCode(p.consumer.push(tensor('uint8', [1])), ['ERR_CLOSED']);
        await p.producer[Symbol.asyncDispose]();
        await expectCode(p.producer.next(), ['ERR_CLOSED']);
      },
      timeout,
    );
  });
}
