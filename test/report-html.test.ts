/**
 * The dossier's HTML and Markdown forms from one Markdown text (client/dossier*.ts, report-html.ts):
 * what the evidence holds is escaped, tables keep their alignment and escaped pipes, an image that is
 * not one of the dossier's plots never becomes a request, and the Markdown drops plot lines when no
 * SVG file travels with it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dossierMarkdown, type Dossier } from '../client/dossier-model.js';
import { renderHtml } from '../client/report-html.js';
import { loadPlan } from '../domain/plan-file.js';
import { runTexts } from '../client/run-texts.js';

const plot = { file: 'calibration.svg', title: 'XCom value sizes', svg: '<svg data-plot="yes"></svg>' };

function dossier(markdown: string): Dossier {
  return { markdown, plots: [plot] };
}

void test('evidence text is escaped: a DAG id or an error never becomes markup', () => {
  const html = renderHtml(
    dossier(
      [
        '# Cut-over <b>x</b>: DONE',
        '',
        '| DAG | Error |',
        '|---|---:|',
        '| <script>alert(1)</script> | a \\| b & "c" |',
        '',
        'Run `<img src=x onerror=alert(1)>` and **bold** and _not reached_.',
      ].join('\n'),
    ),
  );
  assert.ok(!html.includes('<script>alert'), 'no script from the evidence');
  assert.ok(!html.includes('<img'), 'no image from the evidence');
  assert.ok(html.includes('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>'));
  assert.ok(html.includes('<td class="num">a | b &amp; &quot;c&quot;</td>'), 'escaped pipe, right-aligned');
  assert.ok(html.includes('<code>&lt;img src=x onerror=alert(1)&gt;</code>'));
  assert.ok(html.includes('<strong>bold</strong>') && html.includes('<em>not reached</em>'));
  assert.ok(html.includes('<title>Cut-over &lt;b&gt;x&lt;/b&gt;: DONE</title>'));
});

void test('plots inline in HTML; another image is dropped; lists nest; fenced code keeps its lines', () => {
  const md = [
    '## 1. Calibration',
    '',
    '![XCom value sizes](calibration.svg)',
    '',
    '![elsewhere](https://example.com/x.png)',
    '',
    '1. First',
    '   - nested item',
    '2. Second',
    '',
    '```diff',
    '+added',
    '-removed',
    '```',
  ].join('\n');
  const html = renderHtml(dossier(md));
  assert.ok(
    html.includes('<figure id="calibration"><svg data-plot="yes"></svg><figcaption>XCom value sizes'),
  );
  assert.ok(!html.includes('example.com'), 'an image that is not a plot would be a request');
  assert.ok(html.includes('<ol><li>First<ul><li>nested item</li></ul></li><li>Second</li></ol>'), html);
  assert.ok(html.includes('<span class="add">+added</span>\n<span class="del">-removed</span>'));
  assert.ok(html.includes(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`));

  assert.equal(dossierMarkdown(dossier(md), true), md, 'with the SVG files beside it, unchanged');
  const alone = dossierMarkdown(dossier(md), false);
  assert.ok(!alone.includes('calibration.svg'), 'without them, the plot line is gone');
  assert.ok(alone.startsWith('## 1. Calibration\n\n![elsewhere]'), 'and its blank line with it');
});

void test('the Web UI texts of each runbook: the summary names what changes and where', async () => {
  const cases: [string, RegExp][] = [
    ['plans/local.yaml', /^XCom backend -> s3:\/\/\S+ at .* on local-demo$/],
    ['plans/state-store-local.yaml', /^State store backend -> s3:\/\/\S+ at .* on \S+$/],
    ['plans/assess-local.yaml', /^Deployment health assessment \(read-only, changes nothing\) on \S+$/],
  ];
  for (const [file, summary] of cases) {
    const plan = await loadPlan(file);
    const t = runTexts({
      plan,
      planDigest: 'sha256:abc',
      startedBy: 'alice',
      planFile: file,
      workflowId: 'w/1',
      mode: 'run',
    });
    assert.match(t.staticSummary, summary, file);
    assert.ok(t.staticDetails.includes(`from \`${file}\``), file);
    assert.ok(t.staticDetails.includes('cutover report w/1 --format html --out dossier.html'), file);
    const dry = runTexts({
      plan,
      planDigest: 'sha256:abc',
      startedBy: 'alice',
      planFile: file,
      workflowId: 'w/1',
      mode: 'dry-run',
    });
    assert.ok(dry.staticSummary.startsWith('Dry run: '), file);
    assert.ok(!dry.staticDetails.includes('cutover approve'), `${file}: a dry run is never approved`);
  }
  const xcom = runTexts({
    plan: await loadPlan('plans/local.yaml'),
    planDigest: 'sha256:abc',
    startedBy: 'alice',
    planFile: 'plans/local.yaml',
    workflowId: 'w/1',
    mode: 'run',
  });
  assert.match(xcom.staticDetails, /- Approvers: .+\(self-approval (not )?allowed\)/);
  assert.ok(
    xcom.staticDetails.includes('cutover approve w/1 --operator <name> --reason "<why>" --digest sha256:abc'),
  );
});
