import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // Node: `ws`.
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    clean: true,
    noExternal: ['@harmonics/internal'],
    external: [/^@harmonics\/(?!internal$)/, 'ws', 'bufferutil'],
  },
  {
    // Browsers: the global WebSocket; no `ws`, no Node built-ins.
    entry: { browser: 'src/browser.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    noExternal: ['@harmonics/internal'],
    external: [/^@harmonics\/(?!internal$)/],
  },
]);
