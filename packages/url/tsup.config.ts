import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // Node: every scheme, each transport imported on first use.
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    clean: true,
    external: [/^@harmonics\//],
  },
  {
    // Browsers: ws/wss only, no Node built-ins.
    entry: { browser: 'src/browser.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    external: [/^@harmonics\//],
  },
]);
