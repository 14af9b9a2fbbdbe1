// The installed ws, read once at load: its fast paths run only on versions they were tested with (DESIGN §11).
import { createRequire } from 'node:module';
import { type VersionGate, versionGate } from '@harmonics/internal/node';

/** Whether this package's copy of `ws` is one the fast paths were tested with. */
export const GATE: VersionGate = versionGate('ws', createRequire(__filename));
