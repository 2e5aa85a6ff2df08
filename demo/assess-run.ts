/**
 * `--runbook assess`: `cutover assess` on the demo's own stack (read-only: the supervisor's
 * processes, Airflow's health endpoint, import errors and DAG warnings, the metadata DB), its verdict
 * and findings, and the assessment document written to <dir>/assessment.md.
 */
import path from 'node:path';
import { temporalSettings, workflowUiLink } from '../adapters/temporal-connection.js';
import type { RunResult } from '../domain/engine/run.js';
import { cliCommand, phaseTimings, planArg, runCli, type DemoContext } from './context.js';
import { waitForDagsSerialized } from './dags.js';
import { within } from './lifecycle.js';
import { errorText, say, shown, since, warn } from './output.js';

export async function runAssessment(ctx: DemoContext): Promise<{ code: number; workflowId: string | null }> {
  const { life, client, timings } = ctx;
  const file = planArg(ctx);
  const doc = path.join(ctx.dir, 'assessment.md');
  // A deployment that just started has parsed no DAG yet: assess it as it runs, once the dag
  // processor has serialized every DAG file (read from the metadata DB, as the assessment does).
  await waitForDagsSerialized(life, timings, ctx.metadbUrl, ctx.dags);
  say(`$ cutover assess --plan ${file} --out ${shown(doc)}`);
  let workflowId: string | null = null;
  const t = performance.now();
  const { code } = await life.guard(
    Promise.race([
      runCli(ctx, ['assess', '--plan', file, '--out', doc], {
        echoStdout: true,
        echoStderr: true,
        onStderr: (text) => (workflowId ??= /assessment (\S+) started/.exec(text)?.[1] ?? null),
      }),
      ctx.fatal,
    ]),
  );
  const ms = since(t);
  say('');
  if (workflowId === null) {
    timings.push({ label: 'assessment (cutover assess)', ms, note: 'did not start' });
    return { code, workflowId };
  }
  let result: RunResult | null = null;
  let runId: string | undefined;
  try {
    const handle = client.workflow.getHandle(workflowId);
    result = await within(handle.result() as Promise<RunResult>, 10_000, null);
    runId = (await handle.describe()).runId;
  } catch (err) {
    warn(`could not read the assessment's record: ${errorText(err)}`);
  }
  timings.push({ label: `assessment (cutover assess)${result ? `: ${result.outcome}` : ''}`, ms });
  if (result) timings.push(...phaseTimings(result.status, ctx.opts.runbook.evidencePhases));
  const link = workflowUiLink(temporalSettings(ctx.cliEnv), workflowId, runId);
  say(`Assessment ${workflowId}${result ? `: ${result.reason}` : ''}`);
  if (link) say(`  Temporal Web UI: ${link}`);
  say(`  document:        ${shown(doc)} (also: ${cliCommand(ctx, 'report', workflowId)})`);
  const page = doc.replace(/\.md$/, '.html');
  const html = await life.guard(
    runCli(ctx, ['report', workflowId, '--format', 'html', '--out', page], {
      echoStdout: false,
      echoStderr: true,
    }),
  );
  if (html.code === 0)
    say(`  as one page:     ${shown(page)} (self-contained HTML, components as a status grid)`);
  else warn(`could not write the HTML document (cutover report --format html exited ${html.code})`);
  say(`  logs:            ${shown(ctx.logs)}/ (${ctx.logNames.join(', ')})`);
  return { code, workflowId };
}
