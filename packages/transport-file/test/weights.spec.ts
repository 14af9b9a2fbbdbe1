import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tensor } from '@harmonics/core';
import { codeOfSync, expectedGoldenTensors, expectSameTensor, goldenDir, goldenFile } from '@harmonics/conformance';
import { decodeNamedWeights, decodeWeights, loadNamedWeights, loadWeights, saveNamedWeights, saveWeights } from '@harmonics/transport-file';
import { errorOf, tempDir } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const expected = expectedGoldenTensors();

describe('weight containers', () => {
  it('loadWeights reads the golden weights.hwts (#0, #2, #4)', async () => {
    const w = await loadWeights(join(goldenDir(), 'weights.hwts'));
    expect(w).toHaveLength(3);
    [0, 2, 4].forEach((k, i) => expectSameTensor(w[i], expected[k]));
  });

  it('saveWeights writes a byte-identical weights.hwts', async () => {
    const path = tmp.file('w.hwts');
    await saveWeights(path, [expected[0], expected[2], expected[4]]);
    expect(Buffer.compare(readFileSync(path), Buffer.from(goldenFile('weights.hwts')))).toBe(0);
  });

  it('loadNamedWeights reads named.hnwt in file order, with the UTF-8 name intact', async () => {
    const m = await loadNamedWeights(join(goldenDir(), 'named.hnwt'));
    expect([...m.keys()]).toEqual(['dense/kernel', 'dense/bias', 'ünïcode/name']);
    expectSameTensor(m.get('dense/kernel'), expected[0]);
    expectSameTensor(m.get('dense/bias'), expected[1]);
    expectSameTensor(m.get('ünïcode/name'), expected[4]);
  });

  it('saveNamedWeights writes a byte-identical named.hnwt from a Map or a Record', async () => {
    const entries = new Map([
      ['dense/kernel', expected[0]],
      ['dense/bias', expected[1]],
      ['ünïcode/name', expected[4]],
    ]);
    const a = tmp.file('a.hnwt');
    const b = tmp.file('b.hnwt');
    await saveNamedWeights(a, entries);
    await saveNamedWeights(b, Object.fromEntries(entries));
    const golden = Buffer.from(goldenFile('named.hnwt'));
    expect(Buffer.compare(readFileSync(a), golden)).toBe(0);
    expect(Buffer.compare(readFileSync(b), golden)).toBe(0);
  });

  it('a container of the other kind, or not a container, is ERR_BAD_MAGIC', async () => {
    expect((await errorOf(loadWeights(join(goldenDir(), 'named.hnwt'))))?.code).toBe('ERR_BAD_MAGIC');
    expect((await errorOf(loadNamedWeights(join(goldenDir(), 'weights.hwts'))))?.code).toBe('ERR_BAD_MAGIC');
    expect((await errorOf(loadWeights(join(goldenDir(), 'tensors.bin'))))?.code).toBe('ERR_BAD_MAGIC');
  });

  it('a cut container is ERR_TRUNCATED at every cut; bad versions, names and trailing bytes are ERR_PROTOCOL', () => {
    const w = goldenFile('weights.hwts');
    for (let cut = 4; cut < w.length; cut++) {
      expect([cut, codeOfSync(() => decodeWeights(w.subarray(0, cut)))]).toEqual([cut, 'ERR_TRUNCATED']);
    }
    const n = goldenFile('named.hnwt');
    for (let cut = 4; cut < n.length; cut++) {
      expect([cut, codeOfSync(() => decodeNamedWeights(n.subarray(0, cut)))]).toEqual([cut, 'ERR_TRUNCATED']);
    }
    const v2 = Uint8Array.from(w);
    v2[4] = 2;
    expect(codeOfSync(() => decodeWeights(v2))).toBe('ERR_PROTOCOL');
    const extra = new Uint8Array(w.length + 1);
    extra.set(w);
    expect(codeOfSync(() => decodeWeights(extra))).toBe('ERR_PROTOCOL');
    const badName = Uint8Array.from(n);
    badName.set([0xff, 0xfe], 16); // inside "dense/kernel"
    expect(codeOfSync(() => decodeNamedWeights(badName))).toBe('ERR_PROTOCOL');
  });

  it('a missing weights file is ERR_CONNECT', async () => {
    expect((await errorOf(loadWeights(tmp.file('missing.hwts'))))?.code).toBe('ERR_CONNECT');
  });

  it('round-trips an empty container', async () => {
    const path = tmp.file('empty.hwts');
    await saveWeights(path, []);
    expect(await loadWeights(path)).toEqual([]);
    writeFileSync(path, readFileSync(path));
    expect((await loadNamedWeights(path).catch((e) => e)).code).toBe('ERR_BAD_MAGIC');
    await saveNamedWeights(path, { only: tensor('float32', [], [1]) });
    expect([...(await loadNamedWeights(path)).keys()]).toEqual(['only']);
  });
});
