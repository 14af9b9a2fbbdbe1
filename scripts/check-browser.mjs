// Browser-safety and tree-shaking checks for the browser-safe packages, run
// on their built dist (what users install):
// 1. the whole package bundles with --platform=browser and pulls in no Node
//    built-in and no other package, within a size budget;
// 2. an entry that imports only `decodeTensor` keeps nothing of the rest
//    (checked by strings that live only in other modules) within a budget.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

const checks = [
  {
    name: '@harmonics/core (everything)',
    entry: `export * from '@harmonics/core';`,
    budget: 24 * 1024,
  },
  {
    name: '@harmonics/core (decodeTensor only)',
    entry: `import { decodeTensor } from '@harmonics/core'; globalThis.decode = decodeTensor;`,
    budget: 4 * 1024,
    mustNotContain: ['StreamConsumer needs', 'onnxruntime', 'TensorFlow.js', 'writing to the byte sink', 'setImmediate'],
  },
];
if (existsSync('packages/bus/package.json')) {
  checks.push({ name: '@harmonics/bus', entry: `export * from '@harmonics/bus';`, budget: 8 * 1024 });
}
if (existsSync('packages/formats/package.json')) {
  // Deflated .npz members need fflate's inflate and zip writer.
  checks.push({
    name: '@harmonics/formats (with fflate)',
    entry: `export * from '@harmonics/formats';`,
    resolveDir: 'packages/formats',
    allowed: /^(packages\/(core|formats)\/dist\/|node_modules\/\.pnpm\/fflate@[^/]+\/node_modules\/fflate\/)/,
    budget: 64 * 1024,
    ownBudget: { match: /^packages\/formats\//, bytes: 32 * 1024 },
  });
  checks.push({
    name: '@harmonics/formats (openSafetensors only)',
    entry: `import { openSafetensors, httpSource } from '@harmonics/formats'; globalThis.x = [openSafetensors, httpSource];`,
    resolveDir: 'packages/formats',
    allowed: /^(packages\/(core|formats)\/dist\/|node_modules\/\.pnpm\/fflate@[^/]+\/node_modules\/fflate\/)/,
    budget: 16 * 1024,
    // fflate's error table, the .npy header, the zip reader: none of it is reachable from a safetensors read.
    mustNotContain: ['unexpected EOF', 'fortran_order', 'central directory'],
  });
}
if (existsSync('packages/transport-worker/package.json')) {
  checks.push({
    name: '@harmonics/transport-worker',
    entry: `export * from '@harmonics/transport-worker';`,
    allowed: /^packages\/(core|transport-worker)\/dist\//,
    budget: 32 * 1024,
  });
}
if (existsSync('packages/transport-nats/package.json')) {
  // NATS over WebSocket (wsconnect); the @nats-io client is most of it.
  checks.push({
    name: '@harmonics/transport-nats (browser condition, with the @nats-io client)',
    entry: `export * from '@harmonics/transport-nats';`,
    resolveDir: 'packages/transport-nats',
    // The official browser client: nats-core, jetstream, nuid, and nkeys with tweetnacl (NKEY auth), whose
    // fallback `require('crypto')` esbuild disables for browsers: it uses the page's crypto.getRandomValues.
    allowed:
      /^(packages\/(core|transport-nats)\/dist\/|node_modules\/\.pnpm\/(@nats-io\+[a-z-]+|tweetnacl)@[^/]+\/node_modules\/(@nats-io\/(nats-core|jetstream|nuid|nkeys)|tweetnacl)\/|\(disabled\):crypto$)/,
    budget: 256 * 1024,
    ownBudget: { match: /^packages\/transport-nats\//, bytes: 32 * 1024 },
  });
}
if (existsSync('packages/url/package.json')) {
  // url in a browser, with the ws transport passed in (its browser build: no `ws`, no Node built-ins).
  checks.push({
    name: '@harmonics/url with @harmonics/transport-ws (browser condition)',
    entry: `export * from '@harmonics/url'; export { wsTransport } from '@harmonics/transport-ws';`,
    resolveDir: 'packages/url',
    allowed: /^packages\/(core|url|transport-ws)\/dist\/(index|browser|internal|chunk-\w+)\.js$/,
    budget: 32 * 1024,
  });
}

let failures = 0;
for (const check of checks) {
  let out;
  try {
    const result = await build({
      // Resolve from a package that depends on core, so imports go through the
      // published `exports` maps of the built packages, as a user's bundler would.
      stdin: { contents: check.entry, resolveDir: check.resolveDir ?? 'packages/conformance', loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      metafile: true,
      tsconfigRaw: '{}', // resolve through package.json exports, not a tsconfig's source paths
      logLevel: 'silent',
      alias: {
        '@harmonics/bus': './packages/bus',
        '@harmonics/transport-worker': './packages/transport-worker',
        '@harmonics/transport-nats': './packages/transport-nats',
      },
    });
    out = result;
  } catch (err) {
    console.error(`✗ ${check.name}: does not bundle for the browser:\n${err.message}`);
    failures++;
    continue;
  }
  const code = out.outputFiles[0].text;
  const inputs = Object.keys(out.metafile.inputs).filter((f) => f !== '<stdin>');
  const foreign = inputs.filter((f) => !(check.allowed ?? /^packages\/(core|bus)\/dist\//).test(f));
  const problems = [];
  if (foreign.length) problems.push(`pulls in ${foreign.join(', ')}`);
  // A call of CommonJS require (not a method named require, as nats-core's feature table has).
  if (/\bnode:|(?<![.}\w])require\(/.test(code)) problems.push('references a Node built-in or require()');
  if (code.length > check.budget) problems.push(`${code.length} bytes minified, over the ${check.budget}-byte budget`);
  let own = '';
  if (check.ownBudget !== undefined) {
    // The package's own share of the bundle (esbuild's per-input output bytes), apart from its dependencies.
    const output = Object.values(out.metafile.outputs)[0];
    const bytes = Object.entries(output.inputs)
      .filter(([f]) => check.ownBudget.match.test(f))
      .reduce((sum, [, v]) => sum + v.bytesInOutput, 0);
    if (bytes > check.ownBudget.bytes) problems.push(`its own code is ${bytes} bytes minified, over the ${check.ownBudget.bytes}-byte budget`);
    own = `, ${bytes} of them its own (budget ${check.ownBudget.bytes})`;
  }
  for (const s of check.mustNotContain ?? []) if (code.includes(s)) problems.push(`still contains "${s}" (not tree-shaken)`);
  if (problems.length) {
    console.error(`✗ ${check.name}: ${problems.join('; ')}`);
    failures++;
  } else {
    console.log(`✓ ${check.name}: ${code.length} bytes minified (budget ${check.budget})${own}, browser-safe`);
  }
}
process.exit(failures ? 1 : 0);
