import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // Our declarations name Symbol.asyncDispose and AsyncDisposable: the lib
  // reference makes them resolve in any TypeScript >= 5.2 project, whatever
  // its `lib` setting, with or without @types/node.
  dts: { banner: '/// <reference lib="esnext.disposable" />', compilerOptions: { types: [] } },
  platform: 'neutral',
  target: 'es2022',
  sourcemap: true,
  clean: true,
});
