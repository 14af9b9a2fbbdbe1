import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { goldenDir, goldenFile } from '@harmonics/conformance';

describe('golden files', () => {
  it('live in the repository (testdata/cpp-reference), so a clone needs nothing beside it', () => {
    if (process.env.HARMONICS_TESTDATA) return expect(goldenDir()).toBe(process.env.HARMONICS_TESTDATA);
    const repo = resolve(__dirname, '../../..');
    expect(relative(repo, goldenDir())).toBe(join('testdata', 'cpp-reference'));
  });

  it('are byte for byte the C++ library output: SHA-256 as their README states', () => {
    const readme = readFileSync(join(goldenDir(), 'README.md'), 'utf8');
    const listed = [...readme.matchAll(/^([0-9a-f]{64}) {2}(\S+)$/gm)].map((m) => [m[2], m[1]] as const);
    expect(listed.map(([name]) => name).sort()).toEqual(['named.hnwt', 'socket-frames.bin', 'tensors.bin', 'weights.hwts']);
    for (const [name, sha] of listed) {
      expect([name, createHash('sha256').update(goldenFile(name)).digest('hex')]).toEqual([name, sha]);
    }
  });
});
