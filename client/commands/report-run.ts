/** `cutover report ID`: the run's evidence as a dossier: Markdown, one self-contained HTML page, or JSON. */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CliContext } from '../context.js';
import { buildDossier, renderDossier, type DossierFormat } from '../dossier.js';
import { CliError, EXIT } from '../exit-codes.js';
import { readInputFile } from '../input-file.js';
import { SshKeygen } from '../../adapters/ssh-keygen.js';
import { isCommentLine, parseAllowedSigner } from '../../domain/engine/allowed-signers.js';
import type { RunStatus } from '../../domain/engine/run.js';
import { messageOf } from '../context.js';
import { receivedMessages, runStart } from '../history-messages.js';
import type { HistoryFacts } from '../report.js';
import { describeRun, loadRun, viewOfRun } from '../run-status.js';
import { verifyRunSignatures } from '../verify-signatures.js';

const EXTENSION: Record<DossierFormat, string> = { markdown: 'md', html: 'html', json: 'json' };

/** `--out` names a directory when it ends in a slash or already is one. */
async function isDirectory(out: string): Promise<boolean> {
  if (out.endsWith('/') || out.endsWith(path.sep)) return true;
  try {
    return (await stat(out)).isDirectory();
  } catch {
    return false;
  }
}

/** An allowed_signers file kept apart from the plan, checked line by line like the plan's. */
async function readSigners(file: string): Promise<string[]> {
  const text = await readInputFile(file);
  const lines = text.split('\n').filter((l) => !isCommentLine(l));
  lines.forEach((line, i) => {
    const parsed = parseAllowedSigner(line);
    if ('problem' in parsed) throw new CliError(EXIT.BAD_INPUT, `${file}: line ${i + 1}: ${parsed.problem}`);
  });
  return lines;
}

export async function runReport(
  ctx: CliContext,
  id: string,
  opts: { out?: string; format: DossierFormat; verify?: boolean; allowedSigners?: string },
): Promise<void> {
  const client = await ctx.client();
  if (opts.verify) {
    const signers = opts.allowedSigners ? await readSigners(opts.allowedSigners) : undefined;
    const history = await client.workflow.getHandle(id).fetchHistory();
    // The worker's verdicts, where a worker or the result can give them; the checks stand without.
    let status: RunStatus | null = null;
    try {
      status = (await loadRun(client, id)).status;
    } catch (err) {
      ctx.note(`no run status (${messageOf(err)}): checking the history alone`);
    }
    const report = await verifyRunSignatures({
      history,
      workflowId: id,
      status,
      verifier: new SshKeygen({ env: ctx.io.env }),
      ...(signers ? { allowedSigners: signers } : {}),
    });
    if (!report.signed && report.failed === 0) {
      ctx.out(
        `${id}: the plan lists no approval.allowedSigners: its approvals are by name, nothing to verify`,
      );
      ctx.exitCode = EXIT.NEGATIVE;
      return;
    }
    ctx.out(
      `signatures of ${id}${signers ? ` against ${opts.allowedSigners}` : " against the plan's approval.allowedSigners"}:`,
      ...report.lines.map((l) => `  ${l.verdict.padEnd(4)}  ${l.what}: ${l.detail}`),
      report.failed === 0
        ? 'verified: every signature the run relied on holds'
        : `NOT verified: ${report.failed} check(s) failed`,
    );
    ctx.exitCode = report.failed === 0 ? EXIT.OK : EXIT.NEGATIVE;
    return;
  }
  // The history is fetched while the worker answers the status query: neither waits for the other.
  const execution = await describeRun(client, id);
  const [view, events] = await Promise.all([
    viewOfRun(client, execution),
    // Who sent what, as Temporal recorded it (the client identity beside the claimed operator).
    client.workflow
      .getHandle(id, execution.runId)
      .fetchHistory()
      .catch(() => null),
  ]);
  if (!view.status) {
    throw new CliError(
      EXIT.UNREACHABLE,
      `no evidence available for ${id}: ${view.problem ?? view.execution.status}`,
    );
  }
  const facts: HistoryFacts | undefined = events
    ? { start: runStart(events), messages: receivedMessages(events) }
    : undefined;
  if (!opts.out) {
    ctx.io.stdout.write(renderDossier(view.status, opts.format, false, undefined, facts));
    return;
  }
  const intoDir = await isDirectory(opts.out);
  const file = intoDir ? path.join(opts.out, `dossier.${EXTENSION[opts.format]}`) : opts.out;
  const built = intoDir && opts.format === 'markdown' ? buildDossier(view.status, facts) : undefined;
  const plots = built?.plots ?? [];
  const text = renderDossier(view.status, opts.format, plots.length > 0, built, facts);
  try {
    if (intoDir) await mkdir(opts.out, { recursive: true });
    await writeFile(file, text);
    for (const plot of plots) await writeFile(path.join(path.dirname(file), plot.file), `${plot.svg}\n`);
  } catch (err) {
    throw new CliError(
      EXIT.BAD_INPUT,
      `cannot write ${opts.out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  ctx.out(
    `wrote ${file} (${text.split('\n').length - 1} lines)` +
      (plots.length > 0 ? ` and ${plots.map((p) => p.file).join(', ')} beside it` : ''),
  );
}
