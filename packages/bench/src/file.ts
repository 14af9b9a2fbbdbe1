import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTensor, tensor } from '@harmonics/core';
import { FileConsumer, FileProducer } from '@harmonics/transport-file';
import { type Case, sink } from './harness.js';

const MiB = 1024 * 1024;

export function fileCases(): Case[] {
  const dir = mkdtempSync(join(tmpdir(), 'harmonics-bench-'));
  const readPath = join(dir, 'read.bin');
  const t = tensor('float32', [MiB]);
  (t.data as Float32Array).fill(0.25);
  const record = encodeTensor(t);
  const readRecords = 256; // 1 GiB
  const writeRecords = 64; // 256 MiB per run: enough to see the medium, kind to the shared disk
  let rss = 0;

  return [
    {
      name: 'file.read.4MiB',
      unit: 'MB/s',
      baseline: 'fs reads of the same sizes into fresh buffers',
      note: '1 GiB file of 4 MiB records',
      iterations: 1,
      runs: 5,
      setup: async () => {
        const fd = openSync(readPath, 'w');
        for (let i = 0; i < readRecords; i++) writeSync(fd, record);
        closeSync(fd);
      },
      subject: async () => {
        const before = process.memoryUsage().rss;
        const p = new FileProducer(readPath);
        for await (const x of p) {
          sink.value += x.data.length;
          rss = Math.max(rss, process.memoryUsage().rss - before);
        }
        return readRecords * record.length;
      },
      reference: async () => {
        const fh = await open(readPath, 'r');
        let pos = 0;
        for (let i = 0; i < readRecords; i++) {
          const buf = new Uint8Array(record.length);
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          pos += bytesRead;
          sink.value += buf[0];
        }
        await fh.close();
        return readRecords * record.length;
      },
      teardown: async () => {
        console.log(`  (file.read.4MiB: RSS rose by at most ${(rss / MiB).toFixed(1)} MiB while reading 1 GiB)`);
        rmSync(readPath, { force: true });
      },
    },
    {
      name: 'file.write.4MiB',
      unit: 'MB/s',
      baseline: 'fs writes of the same records',
      note: '256 MiB per run',
      iterations: 1,
      runs: 5,
      subject: async () => {
        const c = new FileConsumer(join(dir, 'write-h.bin'));
        for (let i = 0; i < writeRecords; i++) await c.push(t);
        await c.close();
        return writeRecords * record.length;
      },
      reference: async () => {
        const fh = await open(join(dir, 'write-raw.bin'), 'w');
        for (let i = 0; i < writeRecords; i++) await fh.write(record);
        await fh.close();
        return writeRecords * record.length;
      },
      teardown: async () => rmSync(dir, { recursive: true, force: true }),
    },
  ];
}
