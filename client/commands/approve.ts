/**
 * `cutover approve|reject ID`: the operator's go or no-go, sent as an update so
 * the answer (accepted, or refused and why) comes back at once. When the run's plan
 * lists approval.allowedSigners the decision is signed for this very run (its run id,
 * the digest, the operator and the reason) with the operator's SSH key.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { DecisionOptions } from './approve-run.js';

const KINDS = [
  {
    name: 'approve',
    verb: 'approving',
    help: 'say go: APPLY starts once the workflow accepts it',
  },
  {
    name: 'reject',
    verb: 'rejecting',
    help: 'say no-go: the run ends REJECTED, nothing changed',
  },
] as const;
export function registerApprove(program: Command, ctx: CliContext): void {
  for (const kind of KINDS) {
    program
      .command(kind.name)
      .description(`${kind.help} (refused unless the run waits in AWAIT_GO and the digest matches)`)
      .argument('<id>', 'workflow id (cutover/<target>/<plan>)')
      .requiredOption('--operator <name>', 'who decides (must be one of the plan approvers to approve)')
      .requiredOption('--reason <text>', 'why, in words; recorded in the evidence')
      .option(
        '--digest <digest>',
        'digest of the plan you reviewed (default: the one pending approval, printed)',
      )
      .option(
        '--key <file>',
        "SSH key that signs the decision when the plan lists approval.allowedSigners (a private key, or its .pub with the key in ssh-agent; default: the agent's key listed for --operator)",
      )
      .action(async (id: string, opts: DecisionOptions) =>
        (await import('./approve-run.js')).runDecision(ctx, kind, id, opts),
      );
  }
}
