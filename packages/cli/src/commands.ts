// The harmonics commands. Each writes what it found to stdout and its
// progress to stderr; errors reach the caller as HarmonicsErrors.
import { type Tensor, HarmonicsError, tensor } from '@harmonics/core';
import { makeConsumer, makeProducer } from '@harmonics/url';
import cliProgress from 'cli-progress';
import { type Input, type Output, kindOf, openInput, openOutput } from './targets.js';
import { formatBytes, formatTensor, statsOf } from './values.js';

export interface ReadOptions {
  voidDtype?: 'bfloat16';
}

/** Aborted by the first SIGINT or SIGTERM (the command then closes what it opened); a second one exits at once. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

const isAbort = (err: unknown) => err instanceof HarmonicsError && err.code === 'ERR_ABORTED';

// ---------------------------------------------------------------- inspect

export interface InspectRow {
  target: string;
  index: number;
  name: string | null;
  dtype: string;
  shape: number[];
  bytes: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  nan: number;
}

export async function inspect(targets: string[], options: ReadOptions & { json?: boolean; limit?: number }): Promise<void> {
  const all: InspectRow[] = [];
  for (const target of targets) {
    const input = await openInput(target, { voidDType: options.voidDtype });
    const rows: InspectRow[] = [];
    try {
      for (let t = await input.producer.next(); t !== undefined; t = await input.producer.next()) {
        rows.push({
          target,
          index: rows.length,
          name: input.name() ?? null,
          dtype: t.dtype,
          shape: [...t.shape],
          bytes: t.data.byteLength,
          ...statsOf(t),
        });
        if (options.limit !== undefined && rows.length >= options.limit) break;
      }
    } finally {
      await input.close();
    }
    all.push(...rows);
    if (options.json !== true) {
      const total = rows.reduce((n, r) => n + r.bytes, 0);
      console.log(`${target}  (${input.kind}, ${rows.length} tensor${rows.length === 1 ? '' : 's'}, ${formatBytes(total)})`);
      console.log(table(rows));
      console.log();
    }
  }
  // JSON has no infinities: they are written as the strings "inf" and "-inf".
  if (options.json === true) console.log(JSON.stringify(all, (_k, v: unknown) => (v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v), 2));
}

function num(v: number | null): string {
  if (v === null) return '-';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  if (Math.abs(v) >= 1e15 || Math.abs(v) < 1e-4) return v.toPrecision(6).replace(/\.?0+e/, 'e');
  return Number(v.toPrecision(6)).toString();
}

function table(rows: InspectRow[]): string {
  const head = ['#', 'name', 'dtype', 'shape', 'bytes', 'min', 'max', 'mean', 'nan'];
  const body = rows.map((r) => [
    String(r.index),
    r.name ?? '',
    r.dtype,
    `[${r.shape.join(', ')}]`,
    String(r.bytes),
    num(r.min),
    num(r.max),
    num(r.mean),
    String(r.nan),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const right = new Set([0, 4, 5, 6, 7, 8]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}

// ---------------------------------------------------------------- cat

export async function cat(target: string, options: ReadOptions & { head?: number; threshold?: number }): Promise<void> {
  const input = await openInput(target, { voidDType: options.voidDtype });
  try {
    let i = 0;
    for (let t = await input.producer.next(); t !== undefined; t = await input.producer.next()) {
      const name = input.name();
      console.log(`# ${i}${name !== undefined ? ` ${name}` : ''}: ${t.dtype} [${t.shape.join(', ')}]`);
      console.log(formatTensor(t, { threshold: options.threshold }));
      if (++i === options.head) break;
    }
  } finally {
    await input.close();
  }
}

// ---------------------------------------------------------------- pipe and convert

interface Counts {
  tensors: number;
  bytes: number;
  seconds: number;
}

/** Relay `input` into `output` with a progress display; stops cleanly on `signal`. */
async function relay(
  input: Input,
  output: Output,
  options: { limit?: number; progress: 'bar' | 'lines' | 'none'; signal: AbortSignal; label: string },
): Promise<Counts & { interrupted: boolean }> {
  const started = performance.now();
  const counts: Counts = { tensors: 0, bytes: 0, seconds: 0 };
  // The total, when known: up front for most files, after the first tensor for record files.
  const totalOf = () => {
    const known = input.count ?? input.producer.size;
    return options.limit !== undefined && known !== undefined ? Math.min(options.limit, known) : (options.limit ?? known);
  };
  const rate = () => counts.bytes / 1e6 / Math.max(1e-9, (performance.now() - started) / 1000);
  let bar: cliProgress.SingleBar | undefined;
  let lines: NodeJS.Timeout | undefined;
  const startBar = () => {
    const total = totalOf();
    bar = new cliProgress.SingleBar(
      {
        format:
          total !== undefined
            ? `${options.label} {bar} {percentage}% | {value}/{total} tensors | {size} | {rate} MB/s | ETA {eta_formatted}`
            : `${options.label} {value} tensors | {size} | {rate} MB/s`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total ?? 0, 0, { size: formatBytes(0), rate: '0.0' });
  };
  if (options.progress === 'lines') {
    lines = setInterval(() => {
      const total = totalOf();
      console.error(
        `${options.label}: ${counts.tensors}${total !== undefined ? `/${total}` : ''} tensors, ${formatBytes(counts.bytes)}, ${rate().toFixed(1)} MB/s`,
      );
    }, 1000);
  }
  let interrupted = false;
  try {
    for (;;) {
      if (options.limit !== undefined && counts.tensors >= options.limit) break;
      let t: Tensor | undefined;
      try {
        t = await input.producer.next({ signal: options.signal });
      } catch (err) {
        if (isAbort(err) && options.signal.aborted) {
          interrupted = true;
          break;
        }
        throw err;
      }
      if (t === undefined) break;
      await output.push(t, input.name());
      counts.tensors++;
      counts.bytes += t.data.byteLength;
      if (options.progress === 'bar' && bar === undefined) startBar();
      bar?.update(counts.tensors, { size: formatBytes(counts.bytes), rate: rate().toFixed(1) });
      if (options.signal.aborted) {
        interrupted = true;
        break;
      }
    }
  } finally {
    bar?.stop();
    if (lines !== undefined) clearInterval(lines);
    counts.seconds = (performance.now() - started) / 1000;
  }
  return { ...counts, interrupted };
}

function progressMode(flag: boolean | undefined): 'bar' | 'lines' | 'none' {
  if (flag === false) return 'none';
  return process.stderr.isTTY ? 'bar' : 'lines';
}

export async function pipeCommand(
  from: string,
  to: string,
  options: ReadOptions & { limit?: number; progress?: boolean },
  label = 'pipe',
): Promise<void> {
  const { signal, dispose } = interruptSignal();
  try {
    const input = await openInput(from, { voidDType: options.voidDtype });
    let output: Output;
    try {
      output = await openOutput(to);
    } catch (err) {
      await input.close();
      throw err;
    }
    let result: Awaited<ReturnType<typeof relay>>;
    try {
      result = await relay(input, output, { limit: options.limit, progress: progressMode(options.progress), signal, label });
    } catch (err) {
      await output.close().catch(() => {});
      throw err;
    } finally {
      await input.close();
    }
    // Everything received so far is written and the output closed, interrupted or not.
    await output.close();
    const mbs = result.bytes / 1e6 / Math.max(result.seconds, 1e-9);
    console.log(
      `${label}: ${result.tensors} tensor${result.tensors === 1 ? '' : 's'}, ${formatBytes(result.bytes)} in ${result.seconds.toFixed(2)} s (${mbs.toFixed(1)} MB/s)${result.interrupted ? ', interrupted: what arrived is written and closed' : ''}`,
    );
    if (result.interrupted) process.exitCode = 130;
  } finally {
    dispose();
  }
}

export async function convert(from: string, to: string, options: ReadOptions & { progress?: boolean }): Promise<void> {
  for (const [t, w] of [
    [from, false],
    [to, true],
  ] as const) {
    if ((await kindOf(t, w)) === 'url') {
      throw new HarmonicsError('ERR_INVALID_ARGUMENT', `convert works between files; ${t} is a stream target: use harmonics pipe ${from} ${to}`);
    }
  }
  await pipeCommand(from, to, options, 'convert');
}

// ---------------------------------------------------------------- serve

const DEFAULT_PORTS: Record<string, number> = { tcp: 9000, grpc: 50051, ws: 8080, flight: 8815 };

export async function serve(
  scheme: string,
  options: ReadOptions & { host: string; port?: number; out?: string; in?: string; once?: boolean },
): Promise<void> {
  if (!(scheme in DEFAULT_PORTS)) {
    throw new HarmonicsError('ERR_INVALID_ARGUMENT', `harmonics serve runs ${Object.keys(DEFAULT_PORTS).join(', ')}; got ${JSON.stringify(scheme)}`);
  }
  if (options.out !== undefined && options.in !== undefined)
    throw new HarmonicsError('ERR_INVALID_ARGUMENT', `serve takes --out (receive) or --in (send), not both`);
  const port = options.port ?? DEFAULT_PORTS[scheme];
  const address = `${scheme}://${options.host}:${port}`;
  const listen = `${address}${scheme === 'ws' ? '/' : ''}?listen`;
  const { signal, dispose } = interruptSignal();
  try {
    if (options.in !== undefined) {
      // Send mode: a listening consumer fed from --in; a client reads it with `harmonics pipe ADDRESS OUT`.
      const input = await openInput(options.in, { voidDType: options.voidDtype });
      const consumer = await makeConsumer(listen);
      console.log(`harmonics serve: listening on ${address}, sending ${options.in} to the first reader; Ctrl-C to stop`);
      const output: Output = { kind: 'url', push: (t, _n, o) => consumer.push(t, o), close: () => consumer.close() };
      try {
        const r = await relay(input, output, { progress: 'none', signal, label: 'serve' });
        console.log(`harmonics serve: sent ${r.tensors} tensors, ${formatBytes(r.bytes)}${r.interrupted ? ' (interrupted)' : ''}`);
      } finally {
        await input.close();
        await output.close();
      }
      return;
    }
    // Receive mode: each client's stream goes to --out (kept open across clients), or is summarized.
    const output: Output | undefined = options.out === undefined ? undefined : await openOutput(options.out);
    let index = 0;
    const summary: Output = {
      kind: 'url',
      push: async (t) => {
        const s = statsOf(t);
        console.log(
          `  #${index++} ${t.dtype} [${t.shape.join(', ')}] ${t.data.byteLength} bytes, min ${num(s.min)} max ${num(s.max)} mean ${num(s.mean)} nan ${s.nan}`,
        );
      },
      close: async () => {},
    };
    console.log(`harmonics serve: listening on ${address}${options.out ? `, writing what arrives to ${options.out}` : ''}; Ctrl-C to stop`);
    try {
      while (!signal.aborted) {
        // Resolves once listening; its next() waits for a client.
        const producer = await makeProducer(listen);
        index = 0;
        const input: Input = { kind: 'url', producer, name: () => undefined, close: () => producer.close() };
        try {
          const r = await relay(input, output ?? summary, { progress: 'none', signal, label: 'serve' });
          // (Stopped while waiting for the next client: nothing to report.)
          if (!(r.interrupted && r.tensors === 0)) {
            console.log(`harmonics serve: stream ended: ${r.tensors} tensors, ${formatBytes(r.bytes)}${r.interrupted ? ' (interrupted)' : ''}`);
          }
        } finally {
          await producer.close();
        }
        if (options.once === true) break;
      }
    } finally {
      await output?.close();
      console.log('harmonics serve: closed');
    }
  } finally {
    dispose();
  }
}

// ---------------------------------------------------------------- bench

export async function bench(write: string, read: string, options: { size: number; count: number; json?: boolean }): Promise<void> {
  const elements = Math.max(1, Math.floor(options.size / 4));
  const payload = tensor('float32', [elements], new Float32Array(elements).fill(0.5));
  const small = tensor('float32', [256], new Float32Array(256).fill(1));
  const listensFirst = /[?&]listen(=|&|$)/.test(read) ? 'read' : /[?&]listen(=|&|$)/.test(write) ? 'write' : undefined;
  let producer;
  let consumer;
  if (listensFirst === 'write') {
    const c = makeConsumer(write);
    producer = await makeProducer(read);
    consumer = await c;
  } else if (listensFirst === 'read') {
    const p = makeProducer(read);
    await new Promise((r) => setTimeout(r, 50)); // let it bind before the writer connects
    consumer = await makeConsumer(write);
    producer = await p;
  } else {
    [producer, consumer] = await Promise.all([makeProducer(read), makeConsumer(write)]);
  }
  try {
    // Throughput: push `count` tensors while reading them.
    const t0 = performance.now();
    const reading = (async () => {
      let n = 0;
      for (let i = 0; i < options.count; i++) {
        const t = await producer.next();
        if (t === undefined) throw new HarmonicsError('ERR_PROTOCOL', `the stream ended after ${n} of ${options.count} tensors`);
        n++;
      }
    })();
    for (let i = 0; i < options.count; i++) await consumer.push(payload);
    await reading;
    const seconds = (performance.now() - t0) / 1000;
    // Latency: one 1 KiB tensor at a time, pushed and read back.
    const lat: number[] = [];
    for (let i = 0; i < 100; i++) {
      const s = performance.now();
      await consumer.push(small);
      await producer.next();
      lat.push((performance.now() - s) * 1000);
    }
    lat.sort((a, b) => a - b);
    const result = {
      write,
      read,
      tensorBytes: payload.data.byteLength,
      count: options.count,
      seconds: Number(seconds.toFixed(3)),
      mbPerSecond: Number(((payload.data.byteLength * options.count) / 1e6 / seconds).toFixed(1)),
      tensorsPerSecond: Number((options.count / seconds).toFixed(1)),
      latencyMicros1KiB: { p50: Math.round(lat[49]), p99: Math.round(lat[98]) },
    };
    if (options.json === true) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(`bench ${write} → ${read}`);
      console.log(
        `  throughput  ${result.mbPerSecond} MB/s, ${result.tensorsPerSecond} tensors/s (${options.count} × ${formatBytes(payload.data.byteLength)} in ${result.seconds} s)`,
      );
      console.log(
        `  latency     p50 ${result.latencyMicros1KiB.p50} µs, p99 ${result.latencyMicros1KiB.p99} µs (1 KiB, one at a time, push to read)`,
      );
    }
  } finally {
    await consumer.close();
    await producer.close();
  }
}
