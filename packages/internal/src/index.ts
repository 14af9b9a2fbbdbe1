// @harmonics/internal: the building blocks Harmonics' packages share, from
// core's sources (one copy in the repository). It is never published: a
// package that uses it bundles what it uses at build time (tsup noExternal),
// so changing it releases exactly the packages that bundle it
// (scripts/changeset-internal.mjs), and core's published API is only its
// public surface. Errors made here are `instanceof` core's HarmonicsError
// (a brand check), whichever copy made them.
export * from '../../core/src/internal.js';
