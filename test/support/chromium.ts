/** Debian's chromium for the browser tests, driven headless by playwright-core (which never downloads one). */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Debian's chromium: $CHROMIUM_PATH, else `chromium` on PATH, else /usr/bin/chromium. */
export function chromiumPath(): string {
  const candidates = [
    process.env['CHROMIUM_PATH'],
    ...(process.env['PATH'] ?? '')
      .split(path.delimiter)
      .map((d) => (d ? path.join(d, 'chromium') : undefined)),
    '/usr/bin/chromium',
  ];
  for (const c of candidates) {
    if (c === undefined || c === '') continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(
    'chromium is not installed (apt-get install --no-install-recommends chromium; .ci/run does)',
  );
}

/** Flags that keep the browser off the network except for the page under test. */
export const CHROMIUM_ARGS = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--no-first-run',
  '--no-default-browser-check',
  '--metrics-recording-only',
  '--disable-dev-shm-usage',
  // The tests run as root in CI containers, where chromium's sandbox cannot start.
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
];
