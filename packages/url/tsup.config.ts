import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // Node: every scheme, each transport imported on first use.
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: false,
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
    dts: false,
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    external: [/^@harmonics\//],
  },
  {
    // The declarations of both entries in one TypeScript pass (one dts build, not two).
    entry: { index: 'src/index.ts', browser: 'src/browser.ts' },
    format: ['esm', 'cjs'],
    dts: { only: true, compilerOptions: { types: ['node'] } },
    external: [/^@harmonics\//],
  },
]);
