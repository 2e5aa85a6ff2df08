/** `--dry-run`: `cutover plan` on the demo's stack, its evidence and the Web UI link. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { temporalSettings, workflowUiLink } from '../adapters/temporal-connection.js';
import type { RunResult } from '../domain/engine/run.js';
import { cliCommand, phaseTimings, planArg, runCli, type DemoContext } from './context.js';
import { ORDER, within } from './lifecycle.js';
import { errorText, say, shown, since, warn } from './output.js';

export async function runDryRun(ctx: DemoContext): Promise<number> {
  const { life, client, timings } = ctx;
  const file = planArg(ctx);
  say(`$ cutover plan ${file}`);
  let workflowId: string | null = null;
  const t = performance.now();
  const cliDone = runCli(ctx, ['plan', file], {
    echoStdout: true,
    echoStderr: true,
    onStderr: (text) => (workflowId ??= /dry run (\S+) started/.exec(text)?.[1] ?? null),
  });
  let cliSettled = false;
  void cliDone.finally(() => (cliSettled = true)).catch(() => undefined);
  life.add(
    'the dry run',
    ORDER.RUN,
    async () => {
      if (cliSettled || workflowId === null || ctx.serverGone()) return;
      // Interrupted mid-run: end it now, so that the server's history does not keep it running
      // (a dry run has nothing to undo; cancelling would wait for the step in flight).
      const ended = await within(
        Promise.race([
          client.workflow
            .getHandle(workflowId)
            .terminate('the demo was interrupted')
            .then(
              () => true,
              () => false,
            ),
          ctx.server.exited.then(() => false),
        ]),
        3_000,
        false,
      );
      if (ended) warn(`terminated the dry run ${workflowId} (the demo was interrupted)`);
    },
    null,
  );
  const { code } = await life.guard(Promise.race([cliDone, ctx.fatal]));
  const dryRunMs = since(t);
  say('');

  if (workflowId === null) {
    timings.push({ label: 'dry run (cutover plan)', ms: dryRunMs, note: 'did not start' });
    return code;
  }
  const handle = client.workflow.getHandle(workflowId);
  let result: RunResult | null = null;
  let runId: string | undefined;
  try {
    result = (await within(handle.result() as Promise<RunResult>, 10_000, null)) ?? null;
    runId = (await handle.describe()).runId;
  } catch (err) {
    warn(`could not read the dry run's record: ${errorText(err)}`);
  }
  timings.push({ label: `dry run (cutover plan)${result ? `: ${result.outcome}` : ''}`, ms: dryRunMs });
  if (result) timings.push(...phaseTimings(result.status, ctx.opts.runbook.evidencePhases));

  const link = workflowUiLink(temporalSettings(ctx.cliEnv), workflowId, runId);
  say(`Dry run ${workflowId}${result ? `: ${result.outcome}` : ''}`);
  if (link) say(`  Temporal Web UI: ${link}`);
  say(`  logs:            ${shown(ctx.logs)}/ (${ctx.logNames.join(', ')})`);
  const envUnchanged = readFileSync(ctx.envFile, 'utf8') === ctx.envText;
  say(
    `  env file:        ${shown(ctx.envFile)} (${envUnchanged ? 'unchanged by the dry run, byte for byte' : 'CHANGED since the demo wrote it'})`,
  );
  if (ctx.opts.keep) {
    say('');
    say(
      `--keep: the dev server, the worker${ctx.opts.runbook.dryRunNeedsAirflow ? ', Airflow' : ''} and moto keep running until Ctrl-C. Meanwhile, in another shell:`,
    );
    say(`  ${cliCommand(ctx, 'status', workflowId)}`);
    say(`  ${cliCommand(ctx, 'report', workflowId)}`);
    say(`  ${cliCommand(ctx, 'replay', workflowId)}`);
    say(`  ${cliCommand(ctx, 'plan', file)}        (another dry run, served by this worker)`);
  } else {
    say(
      `  (the server's history stays in ${shown(path.join(ctx.dir, 'temporal.db'))}: npm run demo -- --keep keeps the Web UI up)`,
    );
  }
  return code;
}
