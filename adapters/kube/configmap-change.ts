/**
 * ChangePort for `change.mode: configmap`: the stage's env vars are keys of the ConfigMap the
 * Airflow components load through envFrom, patched in place.
 *
 * The journal (what each key held before, per change id and stage) lives in an annotation of
 * the same ConfigMap and is written by the SAME patch as the data, guarded by the
 * resourceVersion read just before: either both land or neither does, a retried apply finds its
 * own journal instead of recording its new values as "previous", and a revert run by another
 * worker (or after this one died) needs nothing but the cluster. Revert restores exactly the
 * previous data of the stage's keys (absent keys are removed again) and drops the journal.
 *
 * Restarting the components is not this adapter's job: the rollout step restarts them and waits
 * until the live pods carry the env.
 */
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { createTwoFilesPatch } from 'diff';
import type { AppliedChange, ChangePort } from '../../activities/adapters.js';
import { PermanentFault } from '../../activities/engine/errors.js';
import type { ChangeStage } from '../../domain/evidence.js';
import { kubeErrorText, kubeStatusCode } from './errors.js';

export const JOURNAL_PREFIX = 'cutover.dev/journal.';

interface Journal {
  changeId: string;
  stage: string;
  /** What each key of the stage held before this apply (null = absent). */
  previous: Record<string, string | null>;
}

export interface ConfigMapChangeOptions {
  core: k8s.CoreV1Api;
  namespace: string;
  configMap: string;
  /** Optimistic-concurrency retries when someone else writes the ConfigMap between read and patch. */
  conflictRetries?: number;
}

type Data = Record<string, string>;

/** `KEY: "value"` lines, sorted: the shape an approver reads, one key per line. */
function render(data: Data): string {
  return Object.keys(data)
    .sort()
    .map((k) => `${k}: ${JSON.stringify(data[k])}\n`)
    .join('');
}

function withChanges(data: Data, changes: Record<string, string | null>): Data {
  const out = new Map(Object.entries(data));
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) out.delete(k);
    else out.set(k, v);
  }
  return Object.fromEntries(out);
}

function sameValues(data: Data, changes: Record<string, string | null>): boolean {
  return Object.entries(changes).every(([k, v]) => (v === null ? !(k in data) : data[k] === v));
}

export function journalKey(changeId: string, stage: string): string {
  const id = createHash('sha256').update(`${changeId}\n${stage}`).digest('hex').slice(0, 16);
  return `${JOURNAL_PREFIX}${id}`;
}

export class ConfigMapChange implements ChangePort {
  readonly mode = 'configmap' as const;
  private readonly retries: number;

  constructor(private readonly options: ConfigMapChangeOptions) {
    this.retries = options.conflictRetries ?? 5;
  }

  private get where(): string {
    return `ConfigMap ${this.options.namespace}/${this.options.configMap}`;
  }

  describeDestination(): string {
    return this.where;
  }

  private async read(): Promise<k8s.V1ConfigMap> {
    try {
      return await this.options.core.readNamespacedConfigMap({
        name: this.options.configMap,
        namespace: this.options.namespace,
      });
    } catch (err) {
      const code = kubeStatusCode(err);
      // Missing or forbidden does not heal by retrying; a flaky API server does.
      if (code === 404) throw new PermanentFault(`${this.where} does not exist`);
      if (code === 401 || code === 403)
        throw new PermanentFault(`reading ${this.where} was refused (${code}): ${kubeErrorText(err)}`);
      throw new Error(`reading ${this.where}: ${kubeErrorText(err)}`, { cause: err });
    }
  }

  /**
   * A merge patch of data + annotations carrying the resourceVersion just read: the API server
   * refuses it with 409 if the object changed in between, and we read again.
   */
  private async patch(
    build: (cm: k8s.V1ConfigMap) => {
      data: Record<string, string | null>;
      annotations: Record<string, string | null>;
    } | null,
  ): Promise<{ cm: k8s.V1ConfigMap; patched: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const cm = await this.read();
      const body = build(cm);
      if (body === null) return { cm, patched: false };
      try {
        const out = await this.options.core.patchNamespacedConfigMap(
          {
            name: this.options.configMap,
            namespace: this.options.namespace,
            body: {
              metadata: { resourceVersion: cm.metadata?.resourceVersion, annotations: body.annotations },
              data: body.data,
            },
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        return { cm: out, patched: true };
      } catch (err) {
        const code = kubeStatusCode(err);
        if (code === 409 && attempt < this.retries) continue;
        if (code === 401 || code === 403 || code === 404 || code === 422)
          throw new PermanentFault(`patching ${this.where} was refused (${code}): ${kubeErrorText(err)}`);
        throw new Error(`patching ${this.where}: ${kubeErrorText(err)}`, { cause: err });
      }
    }
  }

  private ref(cm: k8s.V1ConfigMap): string {
    return `${this.where} resourceVersion ${cm.metadata?.resourceVersion ?? '?'}`;
  }

  async diff(stage: ChangeStage): Promise<string> {
    const live = (await this.read()).data ?? {};
    if (sameValues(live, stage.env)) return '';
    // Only the stage's keys: the neighbours may be anything (and this diff lands in workflow history).
    const keys = Object.keys(stage.env);
    const pick = (d: Data): Data =>
      Object.fromEntries(keys.filter((k) => k in d).map((k) => [k, d[k] ?? '']));
    return createTwoFilesPatch(
      `${this.where} data`,
      `${this.where} data`,
      render(pick(live)),
      render(pick(withChanges(live, stage.env))),
      'live',
      `with ${stage.label}`,
      { context: 0 },
    );
  }

  async apply({ stage, changeId }: { stage: ChangeStage; changeId: string }): Promise<AppliedChange> {
    const key = journalKey(changeId, stage.label);
    const { cm } = await this.patch((cm) => {
      const data = cm.data ?? {};
      const hasJournal = cm.metadata?.annotations?.[key] !== undefined;
      if (hasJournal && sameValues(data, stage.env)) return null;
      const annotations: Record<string, string | null> = {};
      // First attempt only: a retry after a crash must not record the new values as "previous".
      if (!hasJournal) {
        const journal: Journal = {
          changeId,
          stage: stage.label,
          previous: Object.fromEntries(Object.keys(stage.env).map((k) => [k, data[k] ?? null])),
        };
        annotations[key] = JSON.stringify(journal);
      }
      return { data: stage.env, annotations };
    });
    // Across attempts: did this change id alter the data (a retry whose first attempt landed still did)?
    return { changed: !sameValuesBefore(cm, stage.env, key), ref: this.ref(cm), revertHandle: key };
  }

  async revert({
    stage,
    revertHandle,
    changeId,
  }: {
    stage: ChangeStage;
    revertHandle: string | null;
    changeId: string;
  }): Promise<{ changed: boolean; ref: string; restoredEnv: Record<string, string | null> }> {
    const key = revertHandle ?? journalKey(changeId, stage.label);
    let restored: Record<string, string | null> | null = null;
    let changed = false;
    const { cm } = await this.patch((cm) => {
      const raw = cm.metadata?.annotations?.[key];
      const data = cm.data ?? {};
      if (raw === undefined) {
        // No journal: the apply never landed, or this revert already did. Either way the live
        // values of the stage's keys are what the components must run with.
        restored = Object.fromEntries(Object.keys(stage.env).map((k) => [k, data[k] ?? null]));
        changed = false;
        return null;
      }
      const journal = parseJournal(raw, key, this.where);
      restored = journal.previous;
      changed = !sameValues(data, journal.previous);
      return { data: journal.previous, annotations: { [key]: null } };
    });
    return { changed, ref: this.ref(cm), restoredEnv: restored ?? {} };
  }
}

/** Whether the patch changed data: the journal records what the keys held before it. */
function sameValuesBefore(cm: k8s.V1ConfigMap, env: Record<string, string>, key: string): boolean {
  const raw = cm.metadata?.annotations?.[key];
  if (raw === undefined) return false;
  try {
    const journal = JSON.parse(raw) as Journal;
    return Object.entries(env).every(([k, v]) => journal.previous[k] === v);
  } catch {
    return false;
  }
}

function parseJournal(raw: string, key: string, where: string): Journal {
  try {
    const j = JSON.parse(raw) as Journal;
    if (j && typeof j.previous === 'object' && j.previous !== null) return j;
  } catch {
    // fall through
  }
  throw new PermanentFault(
    `the journal annotation ${key} on ${where} is not what cutover wrote; restore by hand`,
  );
}
