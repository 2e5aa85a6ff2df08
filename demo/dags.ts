/**
 * The DAG folder the demo's Airflow parses: the repository's dags/ for the runbooks that run on the
 * default release; for a runbook that starts on another release (the upgrade), a folder of its own
 * under the state dir holding only the files of the DAGs its plan runs, since a DAG written for a
 * newer release would be an import error there (dags/state_store_validation.py needs Airflow 3.3).
 * And the wait until the dag processor has serialized every file of it.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PostgresMetadataDb } from '../adapters/metadata-db.js';
import type { Lifecycle } from './lifecycle.js';
import { ROOT } from './options.js';
import { say, seconds, shown, since, warn, type Timing } from './output.js';

export const REPO_DAGS = path.join(ROOT, 'dags');

export interface DagsFolder {
  folder: string;
  /** The .py files in it (names). */
  files: string[];
}

const pyFiles = (folder: string): string[] =>
  readdirSync(folder)
    .filter((f) => f.endsWith('.py'))
    .sort();

/** The repository's dags/ as it is. */
export function repoDags(): DagsFolder {
  return { folder: REPO_DAGS, files: pyFiles(REPO_DAGS) };
}

/** The file of dags/ that defines `dagId` (its `dag_id="..."`); throws naming the DAG when none does. */
function fileDefining(dagId: string, files: string[]): string {
  const quoted = [`dag_id="${dagId}"`, `dag_id='${dagId}'`];
  const found = files.find((f) => {
    const text = readFileSync(path.join(REPO_DAGS, f), 'utf8');
    return quoted.some((q) => text.includes(q));
  });
  if (!found)
    throw new Error(
      `the plan runs the DAG ${dagId}, but no file in ${shown(REPO_DAGS)}/ defines it (dag_id="${dagId}")`,
    );
  return found;
}

/** <dir>/dags, made afresh with the dags/ files that define `dagIds`. */
export function planDags(dir: string, dagIds: readonly string[]): DagsFolder {
  const all = pyFiles(REPO_DAGS);
  const files = [...new Set(dagIds.map((id) => fileDefining(id, all)))].sort();
  const folder = path.join(dir, 'dags');
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  for (const f of files) copyFileSync(path.join(REPO_DAGS, f), path.join(folder, f));
  return { folder, files };
}

/**
 * A deployment that just started has parsed no DAG yet: waits (bounded) until the dag processor has
 * serialized a DAG per file of the folder, read from the metadata DB. Returns whether it did.
 */
export async function waitForDagsSerialized(
  life: Lifecycle,
  timings: Timing[],
  metadbUrl: string,
  dags: DagsFolder,
): Promise<boolean> {
  const t = performance.now();
  const db = new PostgresMetadataDb(metadbUrl);
  const where = `${shown(dags.folder)}/`;
  let parsed = false;
  try {
    parsed = await life.guard(
      (async () => {
        // Bounded: a dag processor that never serializes them is what the run will report.
        while (since(t) < 120_000) {
          const v = (await db.deploymentHealth()).visibility;
          if (v.serializedDags >= dags.files.length) return true;
          await new Promise((r) => setTimeout(r, 500));
        }
        return false;
      })(),
    );
  } finally {
    await db.close();
  }
  if (parsed)
    say(
      `  [ok] the dag processor serialized the ${dags.files.length} DAGs of ${where} [${seconds(since(t))}]`,
    );
  else
    warn(
      `the dag processor has not serialized the ${dags.files.length} DAGs of ${where} after 2 min: going on`,
    );
  timings.push({ label: 'DAGs parsed and serialized', ms: since(t) });
  return parsed;
}
