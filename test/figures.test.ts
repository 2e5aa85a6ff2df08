/** domain/figures.ts: the figures every text shows, written as the reference dossier writes them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatBytesExact, formatCount, formatDuration, formatSpan } from '../domain/figures.js';

void test('bytes in decimal units, three significant digits, as the reference dossier writes them', () => {
  const cases: [number, string][] = [
    [0, '0 B'],
    [15, '15 B'],
    [999, '999 B'],
    [1000, '1 KB'],
    [1200, '1.2 KB'],
    [73_000, '73 KB'],
    [100_000, '100 KB'],
    [307_000, '307 KB'],
    [999_999, '1 MB'],
    [1_520_000, '1.52 MB'],
    [1_600_000, '1.6 MB'],
    [1_990_000, '1.99 MB'],
    [3_220_000, '3.22 MB'],
    [2_000_000_000, '2 GB'],
    [-2048, '-2.05 KB'],
  ];
  for (const [n, shown] of cases) assert.equal(formatBytes(n), shown, String(n));
  assert.equal(formatBytes(null), '–');
  assert.equal(formatBytes(undefined), '–');
});

void test('the exact figure where it matters: a threshold the backend compares', () => {
  assert.equal(formatBytesExact(1_600_000), '1.6 MB (1 600 000 B)');
  assert.equal(formatBytesExact(65_556), '65.6 KB (65 556 B)');
  assert.equal(formatBytesExact(15), '15 B');
});

void test('counts grouped by three with a space', () => {
  assert.equal(formatCount(7175), '7 175');
  assert.equal(formatCount(1_234_567), '1 234 567');
  assert.equal(formatCount(999), '999');
  assert.equal(formatCount(0), '0');
  assert.equal(formatCount(-12_000), '-12 000');
});

void test('durations in the two largest units people say', () => {
  const cases: [number, string][] = [
    [0, '0 ms'],
    [350, '350 ms'],
    [4200, '4.2 s'],
    [9960, '10 s'],
    [12_000, '12 s'],
    [72_000, '1 min 12 s'],
    [3_600_000, '1 h'],
    [3_660_000, '1 h 1 min'],
    [86_400_000, '1 d'],
    [90_061_000, '1 d 1 h'],
  ];
  for (const [ms, shown] of cases) assert.equal(formatDuration(ms), shown, String(ms));
  assert.equal(formatSpan('2026-06-06T10:00:00Z', '2026-06-06T10:01:12Z'), '1 min 12 s');
  assert.equal(formatSpan(undefined, '2026-06-06T10:01:12Z'), '–');
});
