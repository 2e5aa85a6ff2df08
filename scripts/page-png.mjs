#!/usr/bin/env node
// The first printed page of an HTML dossier as a PNG, taken in Debian's chromium (docs/ keeps one):
//   node scripts/page-png.mjs docs/example-dossier-rolled-back.html docs/example-dossier-rolled-back.png
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/page-png.mjs IN.html OUT.png');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
});
try {
  // An A4 page at 96 dpi, rendered as it prints, at twice the pixels for a sharp picture.
  const page = await browser.newPage({ viewport: { width: 794, height: 1123 }, deviceScaleFactor: 2 });
  await page.emulateMedia({ media: 'print' });
  await page.goto(pathToFileURL(path.resolve(input)).href, { waitUntil: 'load' });
  await page.screenshot({ path: output, clip: { x: 0, y: 0, width: 794, height: 1123 } });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
}
