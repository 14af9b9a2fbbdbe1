import { closeSync, openSync, writeSync } from 'node:fs';
import { encodeTensor, tensor } from '@harmonics/core';
import { FileProducer } from '@harmonics/transport-file';
import { tempDir } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('FileProducer memory', () => {
  it('reads a 1 GiB file of 4 MiB records while RSS rises by at most 64 MiB', async () => {
    const path = tmp.file('gib.bin');
    const t = tensor('float32', [1024 * 1024]);
    (t.data as Float32Array).fill(1.5);
    const rec = encodeTensor(t);
    const fd = openSync(path, 'w');
    for (let i = 0; i < 256; i++) writeSync(fd, rec);
    closeSync(fd);

    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const p = new FileProducer(path);
    let count = 0;
    let checksum = 0;
    for await (const x of p) {
      count++;
      checksum += (x.data as Float32Array)[count];
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(count).toBe(256);
    expect(p.size).toBe(256);
    expect(checksum).toBe(256 * 1.5);
    const riseMiB = (peak - before) / (1024 * 1024);
    expect(riseMiB).toBeLessThanOrEqual(64);
  }, 120_000);
});
