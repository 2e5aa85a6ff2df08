/**
 * LocalExecPort: the exec port for a local target, where each Airflow component
 * is a set of local processes. A command runs as a subprocess with EXACTLY the
 * env configured for its component (process.env is not inherited), stdin
 * written then closed, stdout and stderr captured separately. A timeout kills
 * the whole process group (the command runs as a group leader) and rejects.
 *
 * A component env without AIRFLOW_HOME gets a private one for the command (a temp dir, removed
 * after): Airflow would otherwise create ~/airflow (airflow.cfg, a SQLite airflow.db) on the
 * worker's machine. An explicit AIRFLOW_HOME is the component's own and is kept: it holds the
 * airflow.cfg whose effective values a probe is there to read.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import type { Component } from '../../domain/plan.js';
import { ExecError, tail, type ExecArgs, type ExecPort, type ExecResult } from './port.js';

export interface LocalExecOptions {
  /** The complete environment of the component's processes (PATH included). */
  envFor(component: Component): Record<string, string>;
  /** Working directory of the component's processes (default: this process's cwd). */
  cwdFor?(component: Component): string | undefined;
  /** Most bytes kept per stream before the command is killed (default 64 MiB). */
  maxOutputBytes?: number;
}

export class LocalExecPort implements ExecPort {
  private readonly maxOutputBytes: number;

  constructor(private readonly options: LocalExecOptions) {
    this.maxOutputBytes = options.maxOutputBytes ?? 64 * 1024 * 1024;
  }

  async exec(args: ExecArgs): Promise<ExecResult> {
    const env = { ...this.options.envFor(args.component) };
    if (env['AIRFLOW_HOME']) return this.run(args, env);
    const home = await mkdtemp(path.join(tmpdir(), 'cutover-exec-airflow-home-'));
    try {
      return await this.run(args, { ...env, AIRFLOW_HOME: home });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }

  private run(
    { component, command, stdin, timeoutMs }: ExecArgs,
    env: Record<string, string>,
  ): Promise<ExecResult> {
    const who = component.name;
    const [program, ...argv] = command;
    if (!program)
      return Promise.reject(
        new ExecError('spawn-failed', { component: who, command, detail: 'empty command' }),
      );

    return new Promise<ExecResult>((resolve, reject) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = spawn(program, argv, {
          env,
          cwd: this.options.cwdFor?.(component),
          detached: true, // its own process group, so a timeout can kill grandchildren too
        });
      } catch (err) {
        reject(new ExecError('spawn-failed', { component: who, command, detail: String(err), cause: err }));
        return;
      }

      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let settled = false;

      const stderrText = () => Buffer.concat(err).toString('utf8');
      const killGroup = () => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          try {
            child.kill('SIGKILL');
          } catch {
            // already gone
          }
        }
      };
      const fail = (e: ExecError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      };

      const timer = setTimeout(() => {
        killGroup();
        fail(
          new ExecError('timeout', {
            component: who,
            command,
            detail: `killed after ${timeoutMs} ms`,
            stderrTail: tail(stderrText()),
          }),
        );
      }, timeoutMs);

      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.length;
        if (outBytes > this.maxOutputBytes) {
          killGroup();
          fail(
            new ExecError('output-too-large', {
              component: who,
              command,
              detail: `stdout over ${this.maxOutputBytes} bytes`,
            }),
          );
          return;
        }
        out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        errBytes += chunk.length;
        if (errBytes > this.maxOutputBytes) {
          killGroup();
          fail(
            new ExecError('output-too-large', {
              component: who,
              command,
              detail: `stderr over ${this.maxOutputBytes} bytes`,
            }),
          );
          return;
        }
        err.push(chunk);
      });

      child.on('error', (e: NodeJS.ErrnoException) => {
        const kind = e.code === 'ENOENT' ? 'not-found' : 'spawn-failed';
        fail(new ExecError(kind, { component: who, command, detail: e.message, cause: e }));
      });

      child.on('close', (code, signal) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const exitCode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : -1);
        resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: stderrText() });
      });

      // A command that never reads stdin may exit first: EPIPE is not an error of the exec.
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin ?? '');
    });
  }
}
