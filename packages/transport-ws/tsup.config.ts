import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // Node: `ws`.
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: false,
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    clean: true,
    shims: true, // __filename in the ESM build (src/gate.ts)
    noExternal: ['@harmonics/internal'],
    external: [/^@harmonics\/(?!internal$)/, 'ws', 'bufferutil'],
  },
  {
    // Browsers: the global WebSocket; no `ws`, no Node built-ins.
    entry: { browser: 'src/browser.ts' },
    format: ['esm', 'cjs'],
    dts: false,
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    noExternal: ['@harmonics/internal'],
    external: [/^@harmonics\/(?!internal$)/],
  },
  {
    // The declarations of both entries in one TypeScript pass (one dts build, not two).
    entry: { index: 'src/index.ts', browser: 'src/browser.ts' },
    format: ['esm', 'cjs'],
    dts: { only: true, compilerOptions: { types: ['node'] } },
    noExternal: ['@harmonics/internal'],
    external: [/^@harmonics\/(?!internal$)/, 'ws', 'bufferutil'],
  },
]);
