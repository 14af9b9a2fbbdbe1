// Interop with the real Python libraries (safetensors, numpy, ml_dtypes from
// the venv scripts/setup-peers.sh makes): Python writes files of every dtype
// and we read them bit-exact; we write them and Python reads them bit-exact.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type DType, type Tensor, dtypeInfo, tensor } from '@harmonics/core';
import { PYTHON, expectSameTensor, requirePython } from '@harmonics/conformance';
import { bytesSource, fileSink, fileSource, openNpz, openSafetensors, readNpy, writeNpy, writeNpz, writeSafetensors } from '@harmonics/formats';

const PEER = resolve(__dirname, 'python/formats_peer.py');

interface Expected {
  metadata: Record<string, string>;
  arrays: Record<string, { dtype: DType; shape: number[]; hex: string }>;
  extra: string[];
}

async function python(mode: 'write' | 'check', dir: string): Promise<string> {
  const { stdout } = await promisify(execFile)(PYTHON, [PEER, mode, dir], { maxBuffer: 1 << 24 });
  return stdout.trim();
}

function fromHex(e: Expected['arrays'][string]): Tensor {
  const bytes = Uint8Array.from(Buffer.from(e.hex, 'hex'));
  const info = dtypeInfo(e.dtype);
  return tensor(e.dtype, e.shape, new info.array(bytes.buffer, 0, bytes.byteLength / info.size) as never);
}

describe('formats interop with Python (safetensors, numpy, ml_dtypes)', () => {
  let dir: string;
  let expected: Expected;
  let names: string[];
  beforeAll(async () => {
    requirePython();
    dir = await mkdtemp(join(tmpdir(), 'harmonics-py-formats-'));
    expect(await python('write', dir)).toMatch(/^ok \d+$/);
    expected = JSON.parse(await readFile(join(dir, 'expected.json'), 'utf8')) as Expected;
    names = Object.keys(expected.arrays).filter((n) => !expected.extra.includes(n));
    // Every dtype, each as a [3, 5] array, a scalar and a zero-size array.
    expect(names).toHaveLength(13 * 3);
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('a safetensors file Python wrote reads bit-exact, with its metadata', async () => {
    const file = await openSafetensors(await fileSource(await open(join(dir, 'py.safetensors'))));
    try {
      expect(file.metadata).toEqual(expected.metadata);
      expect([...file.names].sort()).toEqual([...names].sort());
      for (const n of names) expectSameTensor(await file.read(n), fromHex(expected.arrays[n]));
      // The Python writer's dtype names, every one of the 13.
      expect(new Set(file.entries.map((e) => e.fileDType))).toEqual(
        new Set(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL']),
      );
    } finally {
      await file.close();
    }
  });

  test('.npy files np.save wrote read bit-exact: every dtype, versions 2.0 and 3.0, big-endian, Fortran order', async () => {
    const files = (await readdir(join(dir, 'npy'))).map((f) => f.replace(/\.npy$/, ''));
    expect(files.sort()).toEqual(Object.keys(expected.arrays).sort());
    for (const n of Object.keys(expected.arrays)) {
      // np.save writes ml_dtypes' bfloat16 as '<V2': the reader is told what it is.
      const t = await readNpy(bytesSource(await readFile(join(dir, 'npy', `${n}.npy`))), { voidDType: 'bfloat16' });
      expectSameTensor(t, fromHex(expected.arrays[n]));
    }
  });

  test.each(['py_savez.npz', 'py_savez_compressed.npz'])('%s reads bit-exact', async (name) => {
    const file = await openNpz(await fileSource(await open(join(dir, name))), { voidDType: 'bfloat16' });
    try {
      expect(file.names.sort()).toEqual([...names].sort());
      expect(file.entries.every((e) => e.method === (name.includes('compressed') ? 8 : 0))).toBe(true);
      for (const n of names) expectSameTensor(await file.read(n), fromHex(expected.arrays[n]));
    } finally {
      await file.close();
    }
  });

  test('files we write — safetensors, .npy, stored and deflated .npz — Python reads bit-exact', async () => {
    const out = await mkdtemp(join(tmpdir(), 'harmonics-js-formats-'));
    try {
      await copyFile(join(dir, 'expected.json'), join(out, 'expected.json'));
      await mkdir(join(out, 'npy'));
      const all = new Map(Object.entries(expected.arrays).map(([n, e]) => [n, fromHex(e)]));
      await writeSafetensors(fileSink(await open(join(out, 'js.safetensors'), 'w')), all, { metadata: expected.metadata });
      for (const [n, t] of all) await writeNpy(fileSink(await open(join(out, 'npy', `${n}.npy`), 'w')), t);
      await writeNpz(fileSink(await open(join(out, 'js_stored.npz'), 'w')), all);
      await writeNpz(fileSink(await open(join(out, 'js_deflated.npz'), 'w')), all, { compress: true });
      // Every array checked once in safetensors, once as .npy and once in each .npz.
      expect(await python('check', out)).toBe(`ok ${all.size * 4}`);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 60_000);
});
