/**
 * Time to heal: the XCom kill-switch's time from the failed gate to healed, against its physical
 * floor measured on the same stack in the same run.
 *
 *   node dist/bench/kill-switch-heal.js [--components api-server,scheduler,dag-processor,triggerer]
 *                                      [--floor-reps 2]
 *
 * The stack is the local target's, every adapter the shipped one (as test/local-cutover.test.ts
 * builds it, from test/support): a Temporal dev server in memory, a PostgreSQL metadata DB migrated
 * by Airflow 3.3.2 and seeded with the reference XCom history, moto's S3, the components under the
 * supervisor, and an in-process cut-over worker. One run of the env-encoding drill (the demo's
 * `--break env-encoding`): approved at AWAIT_GO, a DAG run triggered as soon as the scheduler
 * carries the broken env (a run that starts while the flip is live, so the heal has one to re-run),
 * VERIFY fails, the kill-switch ends ROLLED_BACK.
 *
 * - heal: from the failed gate's event (the last verifyConfig ActivityTaskCompleted) to the
 *   workflow's completion, from the history's event times (server clock), per compensation step:
 *   the step's activities (first scheduled -> last completed) and the workflow time before it;
 * - floor, on the same stack once the heal is over, `--floor-reps` times: one POST /restart of the
 *   same components through the supervisor (it answers once they are healthy) + one clear and
 *   re-run of the affected DAG run, waited to success through the AirflowRestApi adapter polling
 *   every 100 ms (so the floor carries no poll interval of its own).
 *
 * Prints a table and, last, one JSON line. The ratio (heal / median floor) is the figure: the
 * absolute times depend on the machine's load.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { temporal } from '@temporalio/proto';
import { AirflowRestApi } from '../adapters/airflow-api.js';
import { AirflowSession } from '../adapters/airflow-http.js';
import { WORKFLOW_TYPE, type CutoverResult } from '../domain/cutover.js';
import { planSchema } from '../domain/plan.js';
import { localXComPlanInput } from '../test/support/plans.js';
import { parseComponents } from '../local/supervisor.js';
import { localTargetEnvFile } from '../local/airflow-env.js';
import { spawnSupervisor } from '../local/supervisor-process.js';
import { repoRoot } from '../local/venv.js';
import { adaptersFromEnv } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { approveUpdate, statusQuery } from '../workflows/engine/messages.js';
import { createAirflowTestDatabase } from '../test/support/airflow-db.js';
import { inputFor, startCutoverEnv, waitForPhase, workflowBundle } from '../test/support/cutover-env.js';
import { TEST_CREDENTIALS, TEST_REGION, startMoto } from '../test/support/moto.js';
import { seedReferenceHistory } from '../test/support/xcom-fixture.js';

const { values: args } = parseArgs({
  options: {
    components: { type: 'string', default: 'api-server,scheduler,dag-processor,triggerer' },
    'floor-reps': { type: 'string', default: '2' },
  },
});
const COMPONENTS = parseComponents(args.components);
const FLOOR_REPS = Math.max(1, Number(args['floor-reps']));
const BUCKET = 'cutover-bench-heal';
const DAG = 'xcom_backend_validation';
const PASSWORD = `pw-${randomUUID()}`;
const BROKEN_KEY = 'AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = {
  ACTIVITY_SCHEDULED: 10,
  ACTIVITY_COMPLETED: 12,
  WORKFLOW_COMPLETED: 2,
} as const;

/** Server time of an event in ms (history timestamps carry nanoseconds). */
function eventMs(e: HistoryEvent): number {
  const t = e.eventTime;
  if (!t) return Number.NaN;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** Which compensation step an activity belongs to (the step names the run's status records). */
const STEP_OF: Record<string, string> = {
  revertChange: 'revert target',
  waitForRollout: 'waitForRollout',
  findAffectedRuns: 'findAffectedRuns',
  rerunAffectedRuns: 'rerunAffectedRuns',
  confirmHealed: 'confirmHealed',
  inspectTarget: 'leftHealthy',
  inspectAirflow: 'leftHealthy',
  judgeDeployment: 'leftHealthy',
};

interface StepTime {
  step: string;
  activities: string[];
  /** Previous step's end (or the failed gate) -> this step's first activity scheduled. */
  beforeMs: number;
  /** First activity scheduled -> last activity completed. */
  spanMs: number;
}

/** The heal from the history: the failed gate's completion to the workflow's, per compensation step. */
function healFromHistory(events: HistoryEvent[]): { totalMs: number; steps: StepTime[]; tailMs: number } {
  const scheduled = new Map<string, { type: string; at: number }>();
  let gateAt = Number.NaN;
  let endAt = Number.NaN;
  const done: { type: string; scheduledAt: number; completedAt: number }[] = [];
  for (const e of events) {
    const id = String(e.eventId);
    const type = Number(e.eventType);
    if (type === EventType.ACTIVITY_SCHEDULED) {
      scheduled.set(id, {
        type: e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
        at: eventMs(e),
      });
    } else if (type === EventType.ACTIVITY_COMPLETED) {
      const s = scheduled.get(String(e.activityTaskCompletedEventAttributes?.scheduledEventId));
      if (!s) continue;
      if (s.type === 'verifyConfig') {
        gateAt = eventMs(e);
        done.length = 0;
      } else done.push({ type: s.type, scheduledAt: s.at, completedAt: eventMs(e) });
    } else if (type === EventType.WORKFLOW_COMPLETED) endAt = eventMs(e);
  }
  if (Number.isNaN(gateAt) || Number.isNaN(endAt))
    throw new Error('no failed VERIFY or no completion in history');
  const steps: (StepTime & { from: number; to: number })[] = [];
  let prevEnd = gateAt;
  for (const a of done) {
    const step = STEP_OF[a.type] ?? a.type;
    let s = steps.at(-1);
    if (!s || s.step !== step) {
      s = {
        step,
        activities: [],
        beforeMs: a.scheduledAt - prevEnd,
        spanMs: 0,
        from: a.scheduledAt,
        to: a.completedAt,
      };
      steps.push(s);
    }
    s.to = Math.max(s.to, a.completedAt);
    s.spanMs = s.to - s.from;
    s.activities.push(a.type);
    prevEnd = Math.max(prevEnd, a.completedAt);
  }
  return {
    totalMs: endAt - gateAt,
    steps: steps.map(({ step, activities, beforeMs, spanMs }) => ({ step, activities, beforeMs, spanMs })),
    tailMs: endAt - prevEnd,
  };
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-bench-heal-'));
  const [env, db, moto] = await Promise.all([
    startCutoverEnv(),
    createAirflowTestDatabase('bench_heal', { viaTemplate: false }),
    startMoto({ bucket: BUCKET }),
  ]);
  const cleanups: (() => Promise<unknown>)[] = [
    () => env.close(),
    () => moto.stop(),
    () => db.drop(),
    async () => rmSync(dir, { recursive: true, force: true }),
  ];
  try {
    await seedReferenceHistory(db.url);
    const home = path.join(dir, 'airflow-home');
    mkdirSync(home);
    const envFile = path.join(dir, 'airflow.env');
    writeFileSync(
      envFile,
      localTargetEnvFile({ airflowHome: home, sqlalchemyUrl: db.sqlalchemyUrl, s3Endpoint: moto.endpoint }),
    );
    const supervisor = await spawnSupervisor({
      envFile,
      dagsFolder: path.join(repoRoot(), 'dags'),
      components: COMPONENTS,
      password: PASSWORD,
      logFile: path.join(dir, 'supervisor.log'),
    });
    cleanups.unshift(() => supervisor.stop());
    const taskQueue = `bench-heal-${randomUUID()}`;
    const wa = adaptersFromEnv({
      ...process.env,
      CUTOVER_METADB_URL: db.url,
      CUTOVER_AIRFLOW_USER: 'admin',
      CUTOVER_AIRFLOW_PASSWORD: PASSWORD,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: TEST_REGION,
    });
    const worker = await createCutoverWorker({
      connection: env.connection,
      taskQueue,
      adapters: wa.adapters,
      workflowBundle: await workflowBundle(),
    });
    const workerDone = worker.run();
    cleanups.unshift(async () => {
      worker.shutdown();
      await workerDone;
      await wa.close();
    });

    const raw = localXComPlanInput({
      name: `bench-heal-${randomUUID().slice(0, 8)}`,
      envFile,
      components: COMPONENTS,
      apiUrl: supervisor.apiUrl,
      bucket: BUCKET,
      dagId: DAG,
      approver: 'bench',
    });
    const plan = planSchema.parse(raw);
    const input = inputFor(plan, { inject: 'env-encoding' });
    const t0 = performance.now();
    const handle = await env.client.workflow.start(WORKFLOW_TYPE, {
      taskQueue,
      workflowId: `bench-heal-${randomUUID()}`,
      args: [input],
    });
    await waitForPhase(handle, 'AWAIT_GO', 600_000);
    console.log(`evidence gathered, at AWAIT_GO after ${fmt(performance.now() - t0)}; approving`);
    await handle.executeUpdate(approveUpdate, {
      args: [{ operator: 'bench', reason: 'bench', digest: input.planDigest }],
    });

    // A run that starts while the broken config is live: triggered once the scheduler carries it.
    const session = new AirflowSession({
      baseUrl: supervisor.apiUrl,
      apiVersion: 'v2',
      username: 'admin',
      password: PASSWORD,
      requestTimeoutMs: 10_000,
    });
    for (const until = Date.now() + 600_000; ;) {
      const res = await fetch(`${supervisor.controlUrl}/env?component=scheduler&keys=${BROKEN_KEY}`).catch(
        () => null,
      );
      const live = res?.ok ? ((await res.json()) as { env: Record<string, string | null> }) : null;
      if (live?.env[BROKEN_KEY]) break;
      if (Date.now() > until) throw new Error('the scheduler never carried the broken env');
      await new Promise((r) => setTimeout(r, 200));
    }
    const lateRunId = `late_arrival__${randomUUID()}`;
    for (const until = Date.now() + 600_000; ;) {
      try {
        await session.request('PATCH', `/dags/${DAG}`, {
          label: '/dags/{dag_id}',
          query: { update_mask: 'is_paused' },
          body: { is_paused: false },
        });
        await session.request('POST', `/dags/${DAG}/dagRuns`, {
          label: '/dags/{dag_id}/dagRuns',
          body: { dag_run_id: lateRunId, logical_date: null },
        });
        break;
      } catch (err) {
        // The api-server may still be coming up with the others (minutes on a loaded machine).
        if (Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }

    // A heal step that fails leaves the run waiting at NEEDS_OPERATOR: say so instead of waiting forever.
    let settled = false;
    const stuck = (async () => {
      while (!settled) {
        await new Promise((r) => setTimeout(r, 2_000));
        const st = await handle.query(statusQuery).catch(() => null);
        if (st?.phase === 'NEEDS_OPERATOR')
          throw new Error(`the heal stopped at NEEDS_OPERATOR: ${JSON.stringify(st.compensation?.failed)}`);
      }
    })();
    const result = (await Promise.race([handle.result(), stuck]).finally(() => {
      settled = true;
    })) as CutoverResult;
    if (result.outcome !== 'ROLLED_BACK')
      throw new Error(`the drill ended ${result.outcome}: ${result.reason}`);
    const affected = result.status.evidence.affected?.runs ?? [];
    if (!affected.some((r) => r.runId === lateRunId))
      throw new Error(`the late run was not among the affected runs: ${JSON.stringify(affected)}`);
    const history = await handle.fetchHistory();
    const heal = healFromHistory(history.events ?? []);
    console.log(`drill ROLLED_BACK after ${fmt(performance.now() - t0)}; heal ${fmt(heal.totalMs)}`);
    // Printed before the floor is measured: on a loaded machine that takes minutes.
    for (const s of heal.steps)
      console.log(`  ${s.step}: ${fmt(s.spanMs)} (workflow before it ${fmt(s.beforeMs)})`);

    // The floor: the same restart through the supervisor, then the affected run cleared and re-run.
    const api = new AirflowRestApi({
      baseUrl: supervisor.apiUrl,
      apiVersion: 'v2',
      username: 'admin',
      password: PASSWORD,
      xcomPath: plan.spec.xcom.path,
      s3: { endpoint: moto.endpoint, region: TEST_REGION, credentials: { ...TEST_CREDENTIALS } },
      pollIntervalMs: 100,
    });
    const late = affected.find((r) => r.runId === lateRunId);
    if (!late) throw new Error('unreachable');
    const floors: { restartMs: number; rerunMs: number }[] = [];
    try {
      for (let i = 0; i < FLOOR_REPS; i++) {
        let t = performance.now();
        const res = await fetch(`${supervisor.controlUrl}/restart`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ components: COMPONENTS }),
          signal: AbortSignal.timeout(600_000),
        });
        if (!res.ok) throw new Error(`restart answered ${res.status}: ${await res.text()}`);
        const answer = (await res.json()) as { stopMs?: number };
        const restartMs = performance.now() - t;
        console.log(`floor ${i + 1}/${FLOOR_REPS}: restart stopping ${fmt(answer.stopMs ?? NaN)}`);
        t = performance.now();
        const [rerun] = await api.clearAndWait({
          runs: [late],
          timeoutMs: 300_000,
          heartbeat: () => undefined,
        });
        if (rerun?.finalState !== 'success') throw new Error(`floor re-run ended ${rerun?.finalState}`);
        const rerunMs = performance.now() - t;
        floors.push({ restartMs, rerunMs });
        console.log(`floor ${i + 1}/${FLOOR_REPS}: restart ${fmt(restartMs)} + re-run ${fmt(rerunMs)}`);
      }
    } finally {
      api.close();
    }

    const floorMs = median(floors.map((f) => f.restartMs + f.rerunMs));
    const rows: [string, string][] = [
      ['components', COMPONENTS.join(', ')],
      ['heal: failed gate -> workflow completed (history)', fmt(heal.totalMs)],
      ...heal.steps.flatMap((s): [string, string][] => [
        [`- workflow before ${s.step}`, fmt(s.beforeMs)],
        [`- ${s.step} (${[...new Set(s.activities)].join(', ')})`, fmt(s.spanMs)],
      ]),
      ['- workflow after the last step', fmt(heal.tailMs)],
      ...floors.map((f, i): [string, string] => [
        `floor ${i + 1}: restart + re-run`,
        `${fmt(f.restartMs)} + ${fmt(f.rerunMs)} = ${fmt(f.restartMs + f.rerunMs)}`,
      ]),
      ['floor (median)', fmt(floorMs)],
      ['ratio heal / floor', `${(heal.totalMs / floorMs).toFixed(2)}x`],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    console.log('');
    for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
    console.log(
      JSON.stringify({
        bench: 'kill-switch-heal',
        components: COMPONENTS,
        healMs: heal.totalMs,
        steps: heal.steps,
        tailMs: heal.tailMs,
        floors,
        floorMs,
        ratio: heal.totalMs / floorMs,
      }),
    );
  } finally {
    for (const c of cleanups) await c().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
