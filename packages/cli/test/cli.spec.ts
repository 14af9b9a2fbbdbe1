// The harmonics command, run as users run it: the built binary in a subprocess.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DTYPES, type Tensor, tensor } from '@harmonics/core';
import { expectSameTensor, freePort, sampleTensor } from '@harmonics/conformance';
import { bytesSource, encodeNpy, encodeSafetensors, openNpz, openSafetensors } from '@harmonics/formats';
import { FileConsumer, decodeNamedWeights, decodeWeights } from '@harmonics/transport-file';
import { makeConsumer, makeProducer } from '@harmonics/url';

const CLI = resolve(__dirname, '../dist/cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd: string, timeout = 60_000): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stdout, stderr });
    });
  });
}

/** A long-running command (serve, a pipe that waits), with its output so far. */
function start(
  args: string[],
  cwd: string,
): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null>; waitFor(text: string, ms?: number): Promise<void> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal === null ? null : -1))));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    async waitFor(text, ms = 20_000) {
      const until = Date.now() + ms;
      while (!(out + err).includes(text)) {
        if (Date.now() > until) throw new Error(`no "${text}" within ${ms} ms; stdout: ${out}\nstderr: ${err}`);
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before "${text}"; stdout: ${out}\nstderr: ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

let dir: string;
const every = new Map<string, Tensor>(DTYPES.map((d, i) => [`t_${d}`, sampleTensor(d, i % 4 === 0 ? [] : [3, i + 1], i + 1)]));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'harmonics-cli-'));
  await writeFile(join(dir, 'every.safetensors'), encodeSafetensors(every, { metadata: { by: 'test' } }));
  await writeFile(
    join(dir, 'small.safetensors'),
    encodeSafetensors({
      w: tensor('float32', [2, 3], [1, -2.5, 3, NaN, 0.5, 6]),
      n: tensor('int64', [3], [-(2n ** 63n), 0n, 7n]),
    }),
  );
  await writeFile(join(dir, 'half.npy'), encodeNpy(tensor('float16', [2], new Uint16Array([0x3c00, 0xfc00])))); // 1, -inf
  const c = new FileConsumer(join(dir, 'records.bin'));
  for (let i = 0; i < 20; i++) await c.push(sampleTensor('float32', [64, 64], i + 1));
  await c.close();
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('harmonics', () => {
  test.each(['inspect', 'cat', 'pipe', 'convert', 'serve', 'bench'])('%s --help shows its usage and an example', async (cmd) => {
    const r = await run([cmd, '--help'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: harmonics ${cmd}`);
    expect(r.stdout).toContain('Example:');
    expect(r.stdout).toContain(`$ harmonics ${cmd}`);
  });

  test('inspect prints a table per target: name, dtype, shape, bytes, min/max/mean, NaN count', async () => {
    const r = await run(['inspect', 'small.safetensors', 'half.npy'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'small.safetensors  (safetensors, 2 tensors, 48 B)',
        '#  name  dtype    shape   bytes           min  max          mean  nan',
        '0  n     int64    [3]        24  -9.22337e+18    7  -3.07446e+18    0',
        '1  w     float32  [2, 3]     24          -2.5    6           1.6    1',
        '',
        'half.npy  (npy, 1 tensor, 4 B)',
        '#  name  dtype    shape  bytes   min  max  mean  nan',
        '0        float16  [2]        4  -inf    1  -inf    0',
        '',
        '',
      ].join('\n'),
    );
  });

  test('inspect --json: every dtype of a safetensors file and a record file read through its url target', async () => {
    const r = await run(['inspect', '--json', 'every.safetensors', `file:${join(dir, 'records.bin')}`], dir);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { target: string; name: string | null; dtype: string; shape: number[]; bytes: number }[];
    expect(rows).toHaveLength(every.size + 20);
    for (const [name, t] of every) {
      expect(rows.find((x) => x.name === name)).toMatchObject({ dtype: t.dtype, shape: t.shape, bytes: t.data.byteLength });
    }
    expect(rows.filter((x) => x.target.startsWith('file:')).every((x) => x.dtype === 'float32' && x.bytes === 16384 && x.name === null)).toBe(true);
  });

  test('cat prints values as numpy does, and --head stops early', async () => {
    const r = await run(['cat', 'small.safetensors'], dir);
    expect(r.stdout).toBe('# 0 n: int64 [3]\n[-9223372036854775808, 0, 7]\n# 1 w: float32 [2, 3]\n[[1., -2.5, 3.],\n [nan, 0.5, 6.]]\n');
    const head = await run(['cat', '--head', '1', 'records.bin', '--threshold', '10'], dir);
    expect(head.stdout.split('\n')[0]).toBe('# 0: float32 [64, 64]');
    expect(head.stdout).toContain('...');
    expect(head.stdout).not.toContain('# 1');
  });

  test('convert goes through every file format and back, bit-exact, names kept where the format has them', async () => {
    const chain = ['every.safetensors', 'a.npz', 'b.hnwt', 'c.safetensors', 'd.bin', 'e.hwts', 'f.npz', 'g.safetensors'];
    for (let i = 1; i < chain.length; i++) {
      const r = await run(['convert', chain[i - 1], chain[i]], dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`convert: ${every.size} tensors`);
    }
    // Named all the way to c.safetensors; d.bin and e.hwts have no names, so f.npz names them arr_0…
    const c = await openSafetensors(bytesSource(await readFile(join(dir, 'c.safetensors'))));
    for (const [name, t] of every) expectSameTensor(await c.read(name), t);
    const hnwt = decodeNamedWeights(await readFile(join(dir, 'b.hnwt')));
    for (const [name, t] of every) expectSameTensor(hnwt.get(name), t);
    const order = c.names;
    const hwts = decodeWeights(await readFile(join(dir, 'e.hwts')));
    hwts.forEach((t, i) => expectSameTensor(t, every.get(order[i])!));
    const g = await openSafetensors(bytesSource(await readFile(join(dir, 'g.safetensors'))));
    for (let i = 0; i < order.length; i++) expectSameTensor(await g.read(`arr_${i}`), every.get(order[i])!);
    const npz = await openNpz(bytesSource(await readFile(join(dir, 'a.npz'))));
    for (const [name, t] of every) expectSameTensor(await npz.read(name), t);
    // .npy holds one array.
    expect((await run(['convert', 'half.npy', 'h.safetensors'], dir)).code).toBe(0);
    const h = await openSafetensors(bytesSource(await readFile(join(dir, 'h.safetensors'))));
    expect(Array.from((await h.read('arr_0')).data as Uint16Array)).toEqual([0x3c00, 0xfc00]);
    const many = await run(['convert', 'every.safetensors', 'x.npy'], dir);
    expect(many.code).toBe(1);
    expect(many.stderr).toContain('harmonics: ERR_INVALID_ARGUMENT:');
    expect(many.stderr).toContain('.npz');
  }, 120_000);

  test('errors print the code and message, exit 1, and show a stack only with --debug', async () => {
    const missing = await run(['inspect', 'nope.safetensors'], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^harmonics: ERR_CONNECT: cannot open "nope.safetensors" for reading: ENOENT/);
    expect(missing.stderr).not.toContain('    at ');
    await writeFile(join(dir, 'bad.safetensors'), new Uint8Array([0x10, 0, 0, 0, 0, 0, 0, 0, 0x5b, 0x5d]));
    const bad = await run(['inspect', 'bad.safetensors'], dir);
    expect(bad.stderr).toMatch(/^harmonics: ERR_TRUNCATED: /);
    const debug = await run(['--debug', 'inspect', 'bad.safetensors'], dir);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toContain('    at ');
    const url = await run(['pipe', 'records.bin', 'bogus://x'], dir);
    expect(url.stderr).toMatch(/^harmonics: ERR_UNSUPPORTED_SCHEME: /);
    const usage = await run(['pipe', 'records.bin'], dir);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain("missing required argument 'to'");
  });

  test('pipe without a terminal prints plain lines; --limit stops early', async () => {
    const r = await run(['pipe', '--limit', '7', 'records.bin', 'seven.npz'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^pipe: 7 tensors, 112\.0 KiB in [\d.]+ s \([\d.]+ MB\/s\)\n$/);
    expect(r.stderr).not.toContain('\u001b['); // no terminal control codes
    expect((await openNpz(bytesSource(await readFile(join(dir, 'seven.npz'))))).names).toHaveLength(7);
  });

  test('pipe on a terminal (a pseudo-TTY under script) draws a progress bar with tensors, bytes, MB/s and ETA', async () => {
    const cmd = `${process.execPath} ${CLI} pipe records.bin tty-out.bin`;
    const r = await new Promise<Run>((done) =>
      execFile('script', ['-qec', cmd, '/dev/null'], { cwd: dir, timeout: 60_000 }, (err, stdout, stderr) =>
        done({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stdout, stderr }),
      ),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\u2588'); // the bar's filled blocks
    expect(r.stdout).toMatch(/100% \| 20\/20 tensors \| 320\.0 KiB \| [\d.]+ MB\/s \| ETA/);
    expect(r.stdout).toContain('pipe: 20 tensors');
    expect(await readFile(join(dir, 'tty-out.bin'))).toEqual(await readFile(join(dir, 'records.bin')));
  });

  test('pipe exits cleanly on Ctrl-C: what arrived is written and the output closed', async () => {
    const port = await freePort();
    // The test is the upstream server; the pipe connects to it and writes what arrives to an .npz.
    const writer = await makeConsumer(`tcp://127.0.0.1:${port}?listen`);
    const pipe = start(['pipe', `tcp://127.0.0.1:${port}`, 'partial.npz'], dir);
    const sent = [0, 1, 2, 3, 4].map((i) => sampleTensor('int32', [100], i + 1));
    for (const t of sent) await writer.push(t);
    await pipe.waitFor('pipe: 5 tensors'); // its once-a-second progress line
    pipe.child.kill('SIGINT');
    expect(await pipe.exited).toBe(130);
    expect(pipe.out()).toContain('pipe: 5 tensors');
    expect(pipe.out()).toContain('interrupted: what arrived is written and closed');
    await writer.close().catch(() => {});
    const npz = await openNpz(bytesSource(await readFile(join(dir, 'partial.npz'))));
    expect(npz.names).toEqual(['arr_0', 'arr_1', 'arr_2', 'arr_3', 'arr_4']);
    for (let i = 0; i < 5; i++) expectSameTensor(await npz.read(`arr_${i}`), sent[i]);
  }, 60_000);

  test.each(['tcp', 'grpc', 'ws', 'flight'])(
    'serve %s prints its address; harmonics pipe moves a file to it bit-exact; SIGTERM closes it gracefully',
    async (scheme) => {
      const port = await freePort();
      const out = `served-${scheme}.bin`;
      const server = start(['serve', scheme, '--port', String(port), '--out', `file:${out}`], dir);
      await server.waitFor(`listening on ${scheme}://127.0.0.1:${port}`);
      const r = await run(['pipe', '--no-progress', 'file:records.bin', `${scheme}://127.0.0.1:${port}${scheme === 'ws' ? '/' : ''}`], dir);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('pipe: 20 tensors');
      await server.waitFor('stream ended: 20 tensors');
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(server.out()).toContain('harmonics serve: closed');
      expect(await readFile(join(dir, out))).toEqual(await readFile(join(dir, 'records.bin')));
    },
    60_000,
  );

  test('serve --in sends a file to the first reader', async () => {
    const port = await freePort();
    const server = start(['serve', 'tcp', '--port', String(port), '--in', 'every.safetensors'], dir);
    await server.waitFor('listening on');
    const p = await makeProducer(`tcp://127.0.0.1:${port}`);
    const got: Tensor[] = [];
    for await (const t of p) got.push(t);
    expect(await server.exited).toBe(0);
    const file = await openSafetensors(bytesSource(await readFile(join(dir, 'every.safetensors'))));
    expect(got).toHaveLength(every.size);
    for (let i = 0; i < got.length; i++) expectSameTensor(got[i], every.get(file.names[i])!);
  }, 60_000);

  test('bench measures throughput and latency of one hop', async () => {
    const port = await freePort();
    const r = await run(['bench', '--json', '--size', '64KiB', '--count', '50', `tcp://127.0.0.1:${port}`, `tcp://127.0.0.1:${port}?listen`], dir);
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout) as {
      tensorBytes: number;
      count: number;
      mbPerSecond: number;
      latencyMicros1KiB: { p50: number; p99: number };
    };
    expect(result).toMatchObject({ tensorBytes: 65536, count: 50 });
    expect(result.mbPerSecond).toBeGreaterThan(0);
    expect(result.latencyMicros1KiB.p50).toBeGreaterThan(0);
    expect(result.latencyMicros1KiB.p99).toBeGreaterThanOrEqual(result.latencyMicros1KiB.p50);
  }, 60_000);
});
