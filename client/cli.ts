/**
 * The `cutover` command line: dry-run a plan or start a cut-over, read its evidence, say go or
 * no-go, watch it, list them, replay one for RCA, print its dossier.
 *
 * `main` takes argv and the streams and returns the exit code, so tests call it
 * in-process; bin/cutover.js (or `node dist/client/cli.js`) runs it for real.
 */
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { repoRoot } from '../local/venv.js';
import { CliContext, type CliIo } from './context.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';

/** Each command module adds its subcommand(s) to the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/**
 * The command modules, by the verbs each registers, in the order help lists them. A verb loads only
 * its own module (import() here); help and anything unrecognised load them all. Each command is two
 * modules so that both stay fast to start: commands/X.ts registers it (arguments, options, help:
 * commander and light domain constants) and imports commands/X-run.ts, which does the work with the
 * Temporal SDKs, only when the command runs. See bench/README.md (cli-startup).
 */
export const COMMANDS: { verbs: readonly string[]; load: () => Promise<RegisterCommand> }[] = [
  { verbs: ['start'], load: async () => (await import('./commands/start.js')).registerStart },
  { verbs: ['plan'], load: async () => (await import('./commands/plan.js')).registerPlan },
  { verbs: ['assess'], load: async () => (await import('./commands/assess.js')).registerAssess },
  { verbs: ['approve', 'reject'], load: async () => (await import('./commands/approve.js')).registerApprove },
  {
    verbs: ['retry-compensation', 'acknowledge'],
    load: async () => (await import('./commands/operator.js')).registerOperatorActions,
  },
  { verbs: ['status'], load: async () => (await import('./commands/status.js')).registerStatus },
  { verbs: ['watch'], load: async () => (await import('./commands/watch.js')).registerWatch },
  { verbs: ['list'], load: async () => (await import('./commands/list.js')).registerList },
  { verbs: ['replay'], load: async () => (await import('./commands/replay.js')).registerReplay },
  { verbs: ['report'], load: async () => (await import('./commands/report.js')).registerReport },
  {
    verbs: ['validate', 'schema'],
    load: async () => (await import('./commands/validate.js')).registerValidate,
  },
];

/** The verb argv asks for: its first word that is not an option (none for `--help`, `-V`). */
function verbOf(argv: readonly string[]): string | undefined {
  const first = argv[0];
  return first !== undefined && !first.startsWith('-') ? first : undefined;
}

const ENVIRONMENT_HELP = `Environment:
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE
                           where Temporal is (default localhost:7233, namespace default)
  CUTOVER_TASK_QUEUE       task queue of the cut-over worker (default cutover)
  CUTOVER_UI_URL           Temporal Web UI base URL for links (default: derived for a local dev server)
  CUTOVER_OPERATOR         who you are, for start (default $USER)
  CUTOVER_CONNECT_TIMEOUT  how long to wait for Temporal before exit 5 (default 5s)`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The program with the commands `argv` needs: the one its verb names, or all of them (help, an
 * unknown verb, which commander then answers with a suggestion).
 */
export async function buildProgram(ctx: CliContext, argv: readonly string[] = []): Promise<Command> {
  const verb = verbOf(argv);
  const own = COMMANDS.filter((c) => verb !== undefined && c.verbs.includes(verb));
  const registers = await Promise.all((own.length > 0 ? own : COMMANDS).map((c) => c.load()));
  const program = new Command('cutover');
  program
    .description(
      'Run an Airflow XCom-backend cut-over as one durable Temporal workflow, from plan to evidence.',
    )
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      // main() prints errors itself, as one line.
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', `\n${EXIT_CODES_HELP}\n\n${ENVIRONMENT_HELP}`);
  for (const register of registers) register(program, ctx);
  return program;
}

const defaultIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const ctx = new CliContext(io);
  const program = await buildProgram(ctx, argv);
  let subcommand = '';
  program.hook('preSubcommand', (_program, sub) => {
    subcommand = sub.name();
  });
  const fail = (code: number, message: string, detail: string[] = []): number => {
    io.stderr.write(`cutover: ${message}\n`);
    for (const line of detail) io.stderr.write(`  ${line}\n`);
    return code;
  };
  try {
    if (argv.length === 0) {
      io.stderr.write(program.helpInformation());
      return EXIT.BAD_INPUT;
    }
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.OK; // --help, --version
      const message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
      return fail(EXIT.BAD_INPUT, `${message} (see cutover ${subcommand ? `${subcommand} ` : ''}--help)`);
    }
    const e = ctx.classify(err);
    return fail(e.exitCode, e.message, e.detail);
  } finally {
    await ctx.close();
  }
}

/** Runs the CLI as a process: the exit code becomes the process's. */
export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  // `cutover replay ID | head`: a reader that goes away is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const code = await main(argv);
  process.exitCode = code;
  // Let stdout drain, but never hang on a handle an SDK left open.
  setTimeout(() => process.exit(code), 2000).unref();
}

function invokedDirectly(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedDirectly()) await run();
