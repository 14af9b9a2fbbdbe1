// Headless Chromium (Debian's, or HARMONICS_CHROMIUM) for the interop-chromium
// specs of every package, launched through playwright-core.
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.HARMONICS_CHROMIUM ?? '/usr/bin/chromium';

/** Launch it quiet (no background traffic, no sandbox: CI runs as root). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup-peers.sh (the README's test command does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}
