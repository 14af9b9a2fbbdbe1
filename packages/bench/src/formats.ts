import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor } from '@harmonics/core';
import { SafetensorsConsumer, fileSink, fileSource, openSafetensors } from '@harmonics/formats';
import { type Case, sink } from './harness.js';

const MiB = 1024 * 1024;

export function formatsCases(): Case[] {
  const dir = mkdtempSync(join(tmpdir(), 'harmonics-bench-formats-'));
  const path = join(dir, 'model.safetensors');
  const count = 256; // 256 float32 tensors of 4 MiB: 1 GiB
  const t = tensor('float32', [MiB]);
  (t.data as Float32Array).fill(0.25);
  let ranges: [number, number][] = [];
  return [
    {
      name: 'safetensors.read.4MiB',
      unit: 'MB/s',
      baseline: 'fs reads of the same byte ranges into fresh buffers',
      note: '1 GiB file, 256 tensors, iterated in file order by name',
      iterations: 1,
      runs: 5,
      setup: async () => {
        const entries = Array.from({ length: count }, (_, i) => ({ name: `layers.${i}.weight`, dtype: 'float32' as const, shape: [MiB] }));
        const w = new SafetensorsConsumer(fileSink(await open(path, 'w')), entries);
        for (let i = 0; i < count; i++) await w.push(t);
        await w.close();
        const file = await openSafetensors(await fileSource(await open(path)));
        ranges = file.entries.map((e) => [e.offset, e.byteLength]);
        await file.close();
      },
      subject: async () => {
        const file = await openSafetensors(await fileSource(await open(path)));
        const p = file.producer();
        let bytes = 0;
        for (let x = await p.next(); x !== undefined; x = await p.next()) {
          bytes += x.data.byteLength;
          sink.value += x.data.length;
        }
        await file.close();
        return bytes;
      },
      reference: async () => {
        const fh = await open(path, 'r');
        let bytes = 0;
        for (const [offset, length] of ranges) {
          const buf = new Uint8Array(length);
          const { bytesRead } = await fh.read(buf, 0, length, offset);
          bytes += bytesRead;
          sink.value += buf[0];
        }
        await fh.close();
        return bytes;
      },
      teardown: async () => rmSync(dir, { recursive: true, force: true }),
    },
  ];
}
