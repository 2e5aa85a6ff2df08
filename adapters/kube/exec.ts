/**
 * KubeExecPort: the exec port for a `kubernetes` target. A component's command runs in a
 * Ready pod chosen by the component's label selector (default: the official Helm chart's
 * `tier=airflow, component=<name>, release=<release>`), in its container
 * (`component.container ?? component.name`), over the pod exec WebSocket
 * (@kubernetes/client-node). stdin is written then closed (v5 close-stdin frame), stdout and
 * stderr are captured separately, and the result waits for BOTH the channel-3 status and
 * the socket's close: `Exec.exec()` resolves when the socket opens, not when the command exits.
 */
import { PassThrough, Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import type { Component } from '../../domain/plan.js';
import { ExecError, tail, type ExecArgs, type ExecPort, type ExecResult } from '../exec/port.js';

export interface KubeExecOptions {
  /** A loaded KubeConfig; else one is loaded from `kubeconfigPath`, else the usual way (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeConfig?: k8s.KubeConfig;
  kubeconfigPath?: string;
  /** Context to use (default: the kubeconfig's current context). */
  context?: string;
  namespace: string;
  /** Helm release name, for the default selector. */
  release: string;
  /** Most bytes kept per stream before the exec is abandoned (default 64 MiB). */
  maxOutputBytes?: number;
}

/** The pod label selector of a component: its own, or the official Helm chart's labels. */
export function componentSelector(component: Component, release: string): Record<string, string> {
  return component.selector ?? { tier: 'airflow', component: component.name, release };
}

export function loadKubeConfig(opts: { kubeconfigPath?: string; context?: string }): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else kc.loadFromDefault();
  if (opts.context) {
    if (!kc.getContextObject(opts.context))
      throw new Error(
        `context ${opts.context} is not in the kubeconfig (contexts: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current cluster');
  return kc;
}

interface ExecStatus {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

function isPodReady(pod: k8s.V1Pod): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.phase === 'Running' &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** The HTTP status of a failed WebSocket upgrade ("Unexpected server response: 404"), if that is what it was. */
function upgradeStatus(err: unknown): number | null {
  const msg = err instanceof Error ? err.message : String((err as { message?: unknown })?.message ?? err);
  const m = /Unexpected server response: (\d{3})/.exec(msg);
  return m?.[1] ? Number(m[1]) : null;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  const m = (err as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : String(err);
}

export class KubeExecPort implements ExecPort {
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly maxOutputBytes: number;

  constructor(private readonly options: KubeExecOptions) {
    this.kc = options.kubeConfig ?? loadKubeConfig(options);
    if (options.kubeConfig && options.context) this.kc.setCurrentContext(options.context);
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.maxOutputBytes = options.maxOutputBytes ?? 64 * 1024 * 1024;
  }

  /** The Ready pod a component's commands run in (the first by name, for stable choice). */
  async podFor(component: Component, command: string[] = []): Promise<{ pod: string; container: string }> {
    const who = component.name;
    const selector = componentSelector(component, this.options.release);
    const labelSelector = Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    let list: k8s.V1PodList;
    try {
      list = await this.core.listNamespacedPod({ namespace: this.options.namespace, labelSelector });
    } catch (err) {
      const code = err instanceof k8s.ApiException ? err.code : null;
      throw new ExecError(code === 404 ? 'not-found' : 'transport', {
        component: who,
        command,
        detail: `listing pods ${labelSelector} in ${this.options.namespace}: ${errorText(err)}`,
        cause: err,
      });
    }
    const ready = list.items
      .filter(isPodReady)
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    const pod = ready[0];
    if (!pod?.metadata?.name)
      throw new ExecError('not-found', {
        component: who,
        command,
        detail:
          list.items.length === 0
            ? `no pod matches ${labelSelector} in namespace ${this.options.namespace}`
            : `none of the ${list.items.length} pod(s) matching ${labelSelector} in namespace ${this.options.namespace} is Ready`,
      });
    const container = component.container ?? component.name;
    const names = (pod.spec?.containers ?? []).map((c) => c.name);
    if (!names.includes(container))
      throw new ExecError('not-found', {
        component: who,
        command,
        detail: `container ${container} is not in pod ${pod.metadata.name} (containers: ${names.join(', ') || 'none'})`,
      });
    return { pod: pod.metadata.name, container };
  }

  async exec({ component, command, stdin, timeoutMs }: ExecArgs): Promise<ExecResult> {
    const who = component.name;
    if (command.length === 0)
      throw new ExecError('spawn-failed', { component: who, command, detail: 'empty command' });
    const started = Date.now();
    const { pod, container } = await this.podFor(component, command);
    const remaining = timeoutMs - (Date.now() - started);
    return this.execIn({
      component,
      pod,
      container,
      command,
      stdin,
      timeoutMs: Math.max(1, remaining),
      limitMs: timeoutMs,
    });
  }

  /** Runs in a given pod and container (no pod lookup). */
  execIn(args: {
    component: Component;
    pod: string;
    container: string;
    command: string[];
    stdin?: string;
    timeoutMs: number;
    /** The caller's whole limit, for the message (default timeoutMs). */
    limitMs?: number;
  }): Promise<ExecResult> {
    const { component, pod, container, command, stdin, timeoutMs } = args;
    const limitMs = args.limitMs ?? timeoutMs;
    const who = component.name;
    const where = `pod ${this.options.namespace}/${pod} container ${container}`;

    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let settled = false;
      let status: ExecStatus | null = null;
      let socket: { close(): void; terminate?(): void; readyState: number } | null = null;
      const stderrText = () => Buffer.concat(err).toString('utf8');

      const abandon = () => {
        try {
          if (socket?.terminate) socket.terminate();
          else socket?.close();
        } catch {
          // already closed
        }
      };
      const fail = (e: ExecError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        abandon();
        reject(e);
      };
      // The library ends these on the status frame; a stray write after that must not throw.
      const sink = (which: 'stdout' | 'stderr') =>
        new Writable({
          write: (chunk: Buffer, _enc, cb) => {
            if (which === 'stdout') {
              outBytes += chunk.length;
              out.push(chunk);
            } else {
              errBytes += chunk.length;
              err.push(chunk);
            }
            if (outBytes > this.maxOutputBytes || errBytes > this.maxOutputBytes)
              fail(
                new ExecError('output-too-large', {
                  component: who,
                  command,
                  detail: `${which} over ${this.maxOutputBytes} bytes`,
                }),
              );
            cb();
          },
        }).on('error', () => undefined);

      const timer = setTimeout(() => {
        fail(
          new ExecError('timeout', {
            component: who,
            command,
            detail: `no exit status within ${limitMs} ms in ${where}`,
            stderrTail: tail(stderrText()),
          }),
        );
      }, timeoutMs);

      const onClosed = () => {
        if (settled) return;
        if (status === null) {
          fail(
            new ExecError('closed-without-status', {
              component: who,
              command,
              detail: `the exec socket to ${where} closed before an exit status (pod gone or connection dropped)`,
              stderrTail: tail(stderrText()),
            }),
          );
          return;
        }
        const st = status;
        let exitCode: number | null = null;
        if (st.status === 'Success') exitCode = 0;
        else if (st.reason === 'NonZeroExitCode') {
          const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
          const n = Number(cause?.message);
          exitCode = Number.isInteger(n) ? n : 1;
        }
        if (exitCode === null) {
          const message = st.message ?? JSON.stringify(st);
          fail(
            new ExecError(/not found|no such file/i.test(message) ? 'not-found' : 'spawn-failed', {
              component: who,
              command,
              detail: `${where}: ${message}`,
              stderrTail: tail(stderrText()),
            }),
          );
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: stderrText() });
      };

      const stdinStream = new PassThrough();
      const exec = new k8s.Exec(this.kc);
      exec
        .exec(
          this.options.namespace,
          pod,
          container,
          command,
          sink('stdout'),
          sink('stderr'),
          stdinStream,
          false,
          (s: k8s.V1Status) => {
            status = s as ExecStatus;
          },
        )
        .then(
          (ws) => {
            socket = ws;
            if (settled) {
              abandon();
              return;
            }
            if (ws.readyState === ws.CLOSED) {
              onClosed();
              return;
            }
            ws.on('close', onClosed);
            ws.on('error', (e: Error) =>
              fail(
                new ExecError('transport', {
                  component: who,
                  command,
                  detail: `${where}: ${e.message}`,
                  cause: e,
                }),
              ),
            );
            // The library streams stdin once attached. On v5, end() sends the close-stdin frame; on
            // v4 the library would close the whole socket instead, so stdin is only written there.
            if (ws.protocol === 'v5.channel.k8s.io') stdinStream.end(stdin ?? '');
            else if (stdin) stdinStream.write(stdin);
          },
          (e: unknown) => {
            const code = upgradeStatus(e);
            const kind = code === 404 || code === 400 ? 'not-found' : 'transport';
            fail(
              new ExecError(kind, {
                component: who,
                command,
                detail: `${where}: ${code === 400 ? `container ${container} is not valid for pod ${pod} (HTTP 400)` : errorText(e)}`,
                cause: e,
              }),
            );
          },
        );
    });
  }
}
