import { HarmonicsError } from './errors.js';
import type { Target, TransportOptions } from './transport.js';

/** How a query parameter is read: `flag` (`?listen`, `=true|false|1|0`), `integer` (≥ 0), `number` (≥ 0), `string`. */
export type ParamKind = 'flag' | 'integer' | 'number' | 'string';

/**
 * The caller's options with the target's query parameters applied on top,
 * each read as `spec` says. An unknown parameter or a bad value throws
 * `ERR_INVALID_ARGUMENT` naming the target and the parameters it takes.
 */
export function applyParams<T = Record<string, unknown>>(target: Target, options: TransportOptions, spec: Readonly<Record<string, ParamKind>>): T {
  const out: Record<string, unknown> = { ...options };
  for (const [name, raw] of Object.entries(target.params)) {
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined) {
      const known = Object.keys(spec);
      throw new HarmonicsError(
        'ERR_INVALID_ARGUMENT',
        `${target.href}: unknown parameter "${name}"; ${target.scheme}: targets take ${known.length > 0 ? known.join(', ') : 'no parameters'}`,
      );
    }
    out[name] = readParam(target, name, raw, kind);
  }
  return out as T;
}

function readParam(target: Target, name: string, raw: string, kind: ParamKind): unknown {
  const bad = (expected: string): HarmonicsError =>
    new HarmonicsError('ERR_INVALID_ARGUMENT', `${target.href}: parameter ${name}=${JSON.stringify(raw)} is not ${expected}`);
  switch (kind) {
    case 'flag':
      if (raw === '' || raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw bad('a flag (true, false, 1, 0, or no value)');
    case 'integer': {
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) throw bad('a whole number');
      return n;
    }
    case 'number': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(n) || n < 0) throw bad('a number ≥ 0');
      return n;
    }
    case 'string':
      return raw;
  }
}
