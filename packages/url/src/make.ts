import { type Consumer, HarmonicsError, type Producer, type Target, type Transport } from '@harmonics/core';
import { parseTarget } from './parse.js';

/** Options of {@link makeProducer} / {@link makeConsumer}. */
export interface MakeOptions {
  /**
   * Transports to use instead of importing them by scheme (bundlers, browsers,
   * your own schemes): e.g. `[wsTransport]` from `@harmonics/transport-ws`.
   * They are searched first, in order.
   */
  transports?: readonly Transport[];
  /**
   * Everything else goes to the transport's constructor as its options
   * (`tls`, `maxMessageBytes`, `timeoutMs`, …). The target's query parameters
   * override these.
   */
  [option: string]: unknown;
}

/** Where a scheme's transport comes from when it is not passed in `{ transports }`. */
export interface TransportLoader {
  /** The npm package to install. */
  readonly pkg: string;
  /** Its export that implements {@link Transport}. */
  readonly exportName: string;
  /** Import the package (undefined: the scheme is not available in this build). */
  readonly load: (() => Promise<Record<string, unknown>>) | undefined;
  /** Why `load` is missing, for the error message. */
  readonly unavailable?: string;
}

export type LoaderTable = Readonly<Record<string, TransportLoader>>;

const loaded = new Map<string, Promise<Transport>>();

/** Parse `target`, find its transport, and let it build the Producer. */
export async function make<K extends 'producer' | 'consumer'>(
  kind: K,
  href: string,
  options: MakeOptions,
  loaders: LoaderTable,
): Promise<K extends 'producer' ? Producer : Consumer> {
  const { transports = [], ...rest } = options;
  const target = parseTarget(
    href,
    transports.flatMap((t) => t.schemes),
  );
  const transport = transports.find((t) => t.schemes.includes(target.scheme)) ?? (await loadTransport(target, loaders));
  const built = await transport[kind](target, rest);
  return built as K extends 'producer' ? Producer : Consumer;
}

function loadTransport(target: Target, loaders: LoaderTable): Promise<Transport> {
  const loader = loaders[target.scheme];
  if (loader === undefined || loader.load === undefined) {
    return Promise.reject(
      new HarmonicsError(
        'ERR_UNSUPPORTED_SCHEME',
        `target "${target.href}": ${target.scheme}: ${loader?.unavailable ?? 'has no transport in this build'}; import the transport and pass it as makeProducer(target, { transports: [...] })`,
      ),
    );
  }
  let p = loaded.get(loader.pkg);
  if (p === undefined) {
    p = importTransport(loader, loader.load);
    loaded.set(loader.pkg, p);
    // A failed import is retried next time (the user may install the package meanwhile).
    p.catch(() => loaded.delete(loader.pkg));
  }
  return p;
}

async function importTransport(loader: TransportLoader, load: () => Promise<Record<string, unknown>>): Promise<Transport> {
  let mod: Record<string, unknown>;
  try {
    mod = await load();
  } catch (cause) {
    if (isNotFound(cause, loader.pkg)) {
      throw new HarmonicsError(
        'ERR_TRANSPORT_NOT_INSTALLED',
        `${loader.pkg} is not installed; install it (npm install ${loader.pkg}) to use its schemes`,
        { cause },
      );
    }
    throw new HarmonicsError('ERR_TRANSPORT_NOT_INSTALLED', `${loader.pkg} is installed but failed to load (${String(cause)}); reinstall it`, {
      cause,
    });
  }
  const transport = mod[loader.exportName] as Transport | undefined;
  if (typeof transport?.producer !== 'function' || typeof transport.consumer !== 'function') {
    throw new HarmonicsError(
      'ERR_TRANSPORT_NOT_INSTALLED',
      `${loader.pkg} is installed but has no ${loader.exportName} export (too old for @harmonics/url); upgrade it`,
    );
  }
  return transport;
}

function isNotFound(err: unknown, pkg: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  if (!message.includes(pkg)) return false;
  return e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)|Could not locate module/.test(message);
}
