/**
 * The first printed page of an HTML dossier as a PNG, taken in Debian's chromium (docs/ keeps one):
 *   node dist/test/support/page-png.js docs/example-dossier-rolled-back.html docs/example-dossier-rolled-back.png
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath } from './chromium.js';

/** An A4 page at 96 dpi. */
const A4 = { width: 794, height: 1123 };

export async function firstPagePng(input: string, output: string): Promise<void> {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    // Rendered as it prints, at twice the pixels for a sharp picture.
    const page = await browser.newPage({ viewport: A4, deviceScaleFactor: 2 });
    await page.emulateMedia({ media: 'print' });
    await page.goto(pathToFileURL(path.resolve(input)).href, { waitUntil: 'load' });
    await page.screenshot({ path: output, clip: { x: 0, y: 0, ...A4 } });
  } finally {
    await browser.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node dist/test/support/page-png.js IN.html OUT.png');
    process.exit(2);
  }
  await firstPagePng(input, output);
  console.log(`wrote ${output}`);
}
