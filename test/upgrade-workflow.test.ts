/**
 * The upgrade runbook's decisions with scripted activities on the real Temporal dev server: the order
 * of a green upgrade, a red rehearsal that changes nothing, a failed migration restored from the
 * backup, a failed validation rolled back (the restore method chosen from the runs since the switch)
 * with the runs made on the new release run again, a DB that changed between the dump and the stop
 * dumped again, and a restore that fails leaving the run with an operator.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { notifyActivities } from '../activities/engine/notify.js';
import type { SharedActivities } from '../activities/index.js';
import type { UpgradeActivities } from '../activities/upgrade/index.js';
import { chooseRestoreMethod } from '../activities/upgrade/restore-method.js';
import { planDigest } from '../domain/plan-file.js';
import { UPGRADE_WORKFLOW_TYPE } from '../domain/upgrade/kind.js';
import { upgradePlanSchema, type UpgradePlan, type UpgradePlanInput } from '../domain/upgrade/plan.js';
import type {
  BackupRecord,
  RunsSinceSwitch,
  UpgradeInput,
  UpgradeResult,
  UpgradeStatus,
} from '../domain/upgrade/run.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { acknowledgeUpdate, approveUpdate, statusQuery } from '../workflows/engine/messages.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';
import { greenScript } from './support/scripted-activities.js';

const T = { startedAt: '2026-06-06T10:00:00.000Z', finishedAt: '2026-06-06T10:00:01.000Z' };
const GREEN = { passed: true, reasons: [] };
const red = (...reasons: string[]) => ({ passed: false, reasons });

let env: CutoverEnv;
before(async () => {
  env = await startCutoverEnv();
});
after(async () => env?.close());

const planInput: UpgradePlanInput = {
  apiVersion: 'cutover/v1',
  kind: 'AirflowUpgrade',
  name: 'upgrade-3-3-2',
  target: {
    kind: 'local',
    name: 'scripted',
    envFile: 'airflow.env',
    components: [{ name: 'scheduler' }, { name: 'api-server' }],
  },
  airflow: {
    version: '3.2.2',
    metadataDb: { access: 'direct', urlEnv: 'CUTOVER_METADB_URL' },
    api: { url: 'http://127.0.0.1:1', usernameEnv: 'U', passwordEnv: 'P' },
  },
  change: { mode: 'env-file' },
  spec: {
    upgrade: { toVersion: '3.3.2' },
    backup: { strategy: 'pg-dump', to: '/var/backups/airflow' },
    validation: { criticalDags: ['billing', 'search_index'], concurrency: 1 },
  },
  approval: { approvers: ['bob'] },
};
const plan: UpgradePlan = upgradePlanSchema.parse(planInput);

type Scripted = Pick<
  SharedActivities,
  'notify' | 'applyChange' | 'revertChange' | 'inspectTarget' | 'inspectAirflow' | 'judgeDeployment'
> &
  UpgradeActivities;

interface Options {
  rehearsalRed?: boolean;
  migrationFails?: boolean;
  validationRed?: boolean;
  /** The history tables' checksums the stopped DB shows (default: what the backup saw). */
  changedSinceDump?: boolean;
  restoreFails?: boolean;
  runsSinceSwitch?: RunsSinceSwitch['runs'];
}

const CHECKSUMS = { dag_run: 'a', task_instance: 'b', xcom: 'c' };
const COUNTS = [
  { table: 'dag_run', rows: 10 },
  { table: 'task_instance', rows: 40 },
  { table: 'xcom', rows: 7 },
];

function script(journal: string[], o: Options): Scripted {
  let backups = 0;
  return {
    ...notifyActivities(),
    inspectTarget: (input) => greenScript.inspectTarget(input, 1),
    inspectAirflow: (input) => greenScript.inspectAirflow(input, 1),
    judgeDeployment: (input) => greenScript.judgeDeployment(input, 1),
    'upgrade.preflight': async () => {
      journal.push('preflight');
      return {
        ...T,
        from: '3.2.2',
        to: '3.3.2',
        major: false,
        components: [],
        targetInstall: '/venvs/airflow-3.3.2',
        dbRevision: { revision: 'abc', version: '3.2.2' },
        migrationSql: {
          fromRevision: 'abc',
          statements: 12,
          bytes: 3000,
          text: 'ALTER TABLE x;',
          truncated: false,
        },
        db: { sizeBytes: 50_000_000, largestTables: [{ table: 'task_instance', rows: 40, bytes: 1000 }] },
        providers: [],
        configLint: [],
        dagFindings: [],
        checks: [{ name: 'running release', status: 'green', detail: 'ok', durationMs: 1 }],
        gate: GREEN,
      };
    },
    'upgrade.rehearse': async () => {
      journal.push('rehearse');
      return {
        ...T,
        database: 'airflow_cutover_rehearsal',
        copyMs: 1200,
        migrateMs: 4200,
        fromRevision: 'abc',
        toRevision: 'def',
        migrationsCurrent: !o.rehearsalRed,
        rowCounts: [{ table: 'dag_run', before: 10, after: 10 }],
        dropped: true,
        gate: o.rehearsalRed ? red('the migration failed on the copy: boom') : GREEN,
      };
    },
    'upgrade.backup': async () => {
      backups += 1;
      journal.push(`backup ${backups}`);
      const record: BackupRecord = {
        ...T,
        strategy: 'pg-dump',
        location: `/var/backups/airflow/dump-${backups}.dump`,
        bytes: 1000,
        sha256: 'f'.repeat(64),
        tocEntries: 300,
        durationMs: 800,
        rowCounts: COUNTS,
        checksums: CHECKSUMS,
      };
      return record;
    },
    'upgrade.drain': async () => {
      journal.push('drain');
      return {
        ...T,
        stoppedAt: '2026-06-06T10:00:02.000Z',
        components: ['scheduler', 'api-server'],
        schedule: [
          { dagId: 'hourly', dueAt: '2026-06-06T10:00:03.000Z' },
          { dagId: 'tomorrow', dueAt: '2026-06-07T10:00:00.000Z' },
        ],
      };
    },
    'upgrade.measureHistory': async () => {
      journal.push('measure');
      return {
        ...T,
        rowCounts: COUNTS,
        checksums: o.changedSinceDump ? { ...CHECKSUMS, dag_run: 'z' } : CHECKSUMS,
      };
    },
    'upgrade.injectMigrationFault': async () => {
      journal.push('inject');
      return { ...T, injected: 'drill' };
    },
    'upgrade.migrate': async () => {
      journal.push('migrate');
      if (o.migrationFails)
        throw ApplicationFailure.nonRetryable(
          'airflow db migrate (3.3.2) failed: constraint violated',
          'PermanentFault',
        );
      return { ...T, fromRevision: 'abc', toRevision: 'def', durationMs: 4000, outputTail: '' };
    },
    'upgrade.awaitMigrationJob': async () => {
      journal.push('await migration job');
      if (o.migrationFails)
        throw ApplicationFailure.nonRetryable(
          "the chart's migration Job airflow-run-airflow-migrations (apache/airflow:3.3.2) failed: BackoffLimitExceeded",
          'PermanentFault',
        );
      return { ...T, fromRevision: 'abc', toRevision: 'def', durationMs: 4000, outputTail: '' };
    },
    'upgrade.start': async ({ version }) => {
      journal.push(`start ${version}`);
      return {
        ...T,
        version,
        components: [{ name: 'scheduler', pid: 1, startedAt: T.startedAt }],
        healthyAt: '2026-06-06T10:00:09.000Z',
      };
    },
    'upgrade.verifyVersions': async ({ version }) => {
      journal.push(`verify ${version}`);
      return {
        ...T,
        expected: version,
        components: [{ component: 'scheduler', airflowVersion: version, error: null }],
        migrationsCurrent: true,
        gate: GREEN,
      };
    },
    'upgrade.validate': async ({ due, failOnPurpose }) => {
      journal.push(`validate ${due.map((d) => d.dagId).join(',')}${failOnPurpose ? ' (fail)' : ''}`);
      const bad = o.validationRed || failOnPurpose;
      return {
        ...T,
        runs: [
          {
            dagId: 'billing',
            runId: 'cutover__r__critical__billing',
            state: 'success',
            critical: true,
            durationMs: 5,
          },
          {
            dagId: 'upgrade_validation',
            runId: 'cutover__r__validation__upgrade_validation',
            state: bad ? 'failed' : 'success',
            critical: false,
            durationMs: 5,
          },
        ],
        schedule: due.map((d) => ({ ...d, scheduled: true })),
        gate: bad ? red('upgrade_validation/cutover__r__validation__upgrade_validation ended failed') : GREEN,
      };
    },
    'upgrade.runsSinceSwitch': async ({ since }) => {
      journal.push('runs since switch');
      return { ...T, since, runs: o.runsSinceSwitch ?? [] };
    },
    'upgrade.restore': async ({ plan: p, backup, runs, migrated }) => {
      const choice = chooseRestoreMethod(p.spec.rollback.method, backup, runs, migrated);
      journal.push(`restore ${choice.method}${migrated ? '' : ' (not migrated)'}`);
      // Non-retryable: the run reaches NEEDS_OPERATOR at once instead of after eight backed-off attempts.
      if (o.restoreFails)
        throw ApplicationFailure.nonRetryable('pg_restore: the archive is unreadable', 'PermanentFault');
      return {
        ...T,
        method: choice.method,
        reason: choice.reason,
        durationMs: 900,
        rowCounts: COUNTS,
        checksumsMatch: true,
      };
    },
    'upgrade.rerunOnOldRelease': async ({ runs, method }) => {
      journal.push(`rerun ${method} ${runs.map((r) => r.dagId).join(',')}`);
      return {
        ...T,
        runs: runs.map((r) => ({
          dagId: r.dagId,
          runId: r.runId,
          how: method === 'downgrade' ? ('rerun' as const) : ('retrigger' as const),
          finalState: 'success',
        })),
      };
    },
    applyChange: async ({ stage: s }) => {
      journal.push(
        `apply ${Object.entries(s.env)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}`,
      );
      return { ...T, stage: s.label, mode: 'env-file', changed: true, ref: 'r', revertHandle: 'h' };
    },
    revertChange: async ({ stage: s }) => {
      journal.push('revert env');
      return { ...T, stage: s.label, ref: 'r', changed: true, restoredEnv: { AIRFLOW_VERSION: '3.2.2' } };
    },
  };
}

type Handle = Awaited<ReturnType<CutoverEnv['client']['workflow']['start']>>;

async function run(
  input: UpgradeInput,
  o: Options,
  drive: (s: () => Promise<UpgradeStatus>, h: Handle) => Promise<void> = approve,
) {
  const journal: string[] = [];
  const taskQueue = `upgrade-${randomUUID()}`;
  const worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    activities: script(journal, o),
    workflowBundle: await workflowBundle(),
  });
  const handle = await env.client.workflow.start(UPGRADE_WORKFLOW_TYPE, {
    taskQueue,
    workflowId: `upgrade-${randomUUID()}`,
    args: [input],
  });
  const status = () => handle.query(statusQuery) as Promise<UpgradeStatus>;
  const result = await worker.runUntil(async () => {
    await drive(status, handle);
    return (await handle.result()) as UpgradeResult;
  });
  return { result, journal };
}

async function until(status: () => Promise<UpgradeStatus>, pred: (s: UpgradeStatus) => boolean) {
  for (;;) {
    const s = await status().catch(() => null);
    if (s && pred(s)) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const input = (extra: Partial<UpgradeInput> = {}, p: UpgradePlan = plan): UpgradeInput => ({
  plan: p,
  planDigest: planDigest(p),
  startedBy: 'alice',
  ...extra,
});

async function approve(
  status: () => Promise<UpgradeStatus>,
  h: Handle,
  p: UpgradePlan = plan,
): Promise<void> {
  const waiting = await until(status, (s) => s.pendingApproval !== null || s.outcome !== null);
  if (waiting.outcome !== null) return;
  await h.executeUpdate(approveUpdate, {
    args: [{ operator: 'bob', reason: 'reviewed', digest: planDigest(p) }],
  });
}

const GREEN_PATH = [
  'preflight',
  'rehearse',
  'backup 1',
  'drain',
  'measure',
  'migrate',
  'apply AIRFLOW_VERSION=3.3.2',
  'start 3.3.2',
  'verify 3.3.2',
  'validate hourly',
];

describe('the upgrade runbook decides', { timeout: 120_000 }, () => {
  test('a green upgrade: backup before the stop, migrate, switch, verify, validate; the approver reads the SQL and the rehearsal', async () => {
    let review = '';
    const { result, journal } = await run(input(), {}, async (status, h) => {
      const waiting = await until(status, (s) => s.pendingApproval !== null);
      review = waiting.pendingApproval?.review.join('\n') ?? '';
      await approve(status, h);
    });
    assert.equal(result.outcome, 'DONE', result.reason);
    assert.deepEqual(journal, GREEN_PATH);
    assert.match(review, /SQL to be run: 12 statement\(s\)/);
    assert.match(review, /migration 4\.2 s/);
    assert.match(review, /pg_dump -Fc to \/var\/backups\/airflow BEFORE anything stops/);
    assert.match(review, /critical DAGs billing, search_index first, 1 at a time/);
    // Downtime: stopped 10:00:02 -> healthy 10:00:09.
    assert.match(result.reason, /downtime 7\.0 s, migration 4\.0 s \(rehearsed 4\.2 s\)/);
    assert.equal(result.productionChanged, true);
  });

  test('a red rehearsal stops the run before anything is backed up or stopped', async () => {
    const { result, journal } = await run(input(), { rehearsalRed: true });
    assert.equal(result.outcome, 'STOPPED');
    assert.match(result.reason, /REHEARSE gate red, nothing changed: the migration failed on the copy/);
    assert.deepEqual(journal, ['preflight', 'rehearse']);
    assert.equal(result.productionChanged, false);
  });

  test('a migration that fails mid-way: the backup is restored and the old release started; nothing was switched', async () => {
    const { result, journal } = await run(input({ inject: 'break-migration' }), { migrationFails: true });
    assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
    assert.deepEqual(journal, [
      'preflight',
      'rehearse',
      'backup 1',
      'drain',
      'measure',
      'inject',
      'migrate',
      'restore restore (not migrated)',
      'start 3.2.2',
      'verify 3.2.2',
    ]);
    assert.match(
      result.reason,
      /^MIGRATE failed .*constraint violated.*Airflow 3\.2\.2 runs again; metadata DB restored from the backup/,
    );
    assert.equal(result.status.evidence.restore?.checksumsMatch, true);
    assert.equal(result.productionChanged, false);
  });

  const kubePlan = upgradePlanSchema.parse({
    ...planInput,
    target: {
      kind: 'kubernetes',
      namespace: 'airflow',
      release: 'airflow',
      components: [
        { name: 'scheduler', workload: { kind: 'Deployment', name: 'airflow-scheduler' } },
        { name: 'triggerer', workload: { kind: 'StatefulSet', name: 'airflow-triggerer' } },
      ],
    },
    change: { mode: 'gitops', repo: '/srv/infra.git', valuesFile: 'values.yaml', location: '.' },
  });

  test('kubernetes: the merge before the chart migration Job, then the scale-up; the local order unchanged', async () => {
    const { result, journal } = await run(input({}, kubePlan), {}, (status, h) =>
      approve(status, h, kubePlan),
    );
    assert.equal(result.outcome, 'DONE', result.reason);
    assert.deepEqual(journal, [
      'preflight',
      'rehearse',
      'backup 1',
      'drain',
      'measure',
      'apply airflowVersion=3.3.2,defaultAirflowTag=3.3.2',
      'await migration job',
      'start 3.3.2',
      'verify 3.3.2',
      'validate hourly',
    ]);
  });

  test('kubernetes, the migration Job fails: the DB restored BEFORE the merge is reverted, then the old release scaled back', async () => {
    const { result, journal } = await run(
      input({ inject: 'break-migration' }, kubePlan),
      { migrationFails: true },
      (status, h) => approve(status, h, kubePlan),
    );
    assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
    assert.deepEqual(journal, [
      'preflight',
      'rehearse',
      'backup 1',
      'drain',
      'measure',
      'inject',
      'apply airflowVersion=3.3.2,defaultAirflowTag=3.3.2',
      'await migration job',
      'restore restore (not migrated)',
      'revert env',
      'start 3.2.2',
      'verify 3.2.2',
    ]);
    assert.match(result.reason, /^MIGRATE failed .*BackoffLimitExceeded/);
  });

  test('a failed validation with a production run since the switch: downgrade keeps it, then it runs again on the old release', async () => {
    const runs: RunsSinceSwitch['runs'] = [
      {
        dagId: 'hourly',
        runId: 'scheduled__1',
        state: 'success',
        cutover: false,
        logicalDate: null,
        conf: {},
      },
      {
        dagId: 'billing',
        runId: 'cutover__r__critical__billing',
        state: 'success',
        cutover: true,
        logicalDate: null,
        conf: {},
      },
      {
        dagId: 'upgrade_validation',
        runId: 'cutover__r__validation__upgrade_validation',
        state: 'failed',
        cutover: true,
        logicalDate: null,
        conf: { fail: true },
      },
    ];
    const { result, journal } = await run(input({ inject: 'fail-validation' }), { runsSinceSwitch: runs });
    assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
    assert.deepEqual(journal, [
      ...GREEN_PATH.slice(0, -1),
      'validate hourly (fail)',
      'revert env',
      'runs since switch',
      'restore downgrade',
      'start 3.2.2',
      'verify 3.2.2',
      'rerun downgrade hourly,billing',
    ]);
    assert.match(
      result.status.evidence.restore?.reason ?? '',
      /1 DAG run\(s\) not made by cutover .*hourly\/scheduled__1/,
    );
    assert.match(result.reason, /2 DAG run\(s\) made on 3\.3\.2 run again/);
  });

  test('only cutover’s own runs since the switch: the backup is restored and they are triggered again', async () => {
    const runs: RunsSinceSwitch['runs'] = [
      {
        dagId: 'billing',
        runId: 'cutover__r__critical__billing',
        state: 'success',
        cutover: true,
        logicalDate: null,
        conf: {},
      },
    ];
    const { result, journal } = await run(input(), { validationRed: true, runsSinceSwitch: runs });
    assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
    assert.deepEqual(journal.slice(-5), [
      'runs since switch',
      'restore restore',
      'start 3.2.2',
      'verify 3.2.2',
      'rerun restore billing',
    ]);
  });

  test('the DB changed between the dump and the stop: it is dumped again while stopped', async () => {
    const { result, journal } = await run(input(), { changedSinceDump: true });
    assert.equal(result.outcome, 'DONE', result.reason);
    assert.deepEqual(journal.slice(0, 6), [
      'preflight',
      'rehearse',
      'backup 1',
      'drain',
      'measure',
      'backup 2',
    ]);
    assert.equal(result.status.evidence.backup?.location, '/var/backups/airflow/dump-2.dump');
  });

  test('a clone backup is made after the stop, never while Airflow runs', async () => {
    const clonePlan = upgradePlanSchema.parse({
      ...planInput,
      spec: { ...planInput.spec, backup: { strategy: 'clone' } },
    });
    const { result, journal } = await run(input({}, clonePlan), {}, (s, h) => approve(s, h, clonePlan));
    assert.equal(result.outcome, 'DONE', result.reason);
    assert.deepEqual(journal.slice(0, 5), ['preflight', 'rehearse', 'drain', 'measure', 'backup 1']);
  });

  test('a restore that keeps failing leaves the run with an operator, saying production is still changed', async () => {
    const { result } = await run(input(), { validationRed: true, restoreFails: true }, async (status, h) => {
      await approve(status, h);
      const stuck = await until(status, (s) => s.phase === 'NEEDS_OPERATOR');
      assert.match(stuck.compensation?.failed?.step ?? '', /restore the metadata DB/);
      assert.match(stuck.details, /still|left/i);
      await h.executeUpdate(acknowledgeUpdate, {
        args: [{ operator: 'bob', reason: 'restoring by hand' }],
      });
    });
    assert.equal(result.outcome, 'OPERATOR_TOOK_OVER');
    assert.equal(result.productionChanged, true);
  });
});

describe('the restore method', () => {
  const backup = { strategy: 'pg-dump' } as BackupRecord;
  const since = (cutover: boolean[]): RunsSinceSwitch => ({
    ...T,
    since: T.startedAt,
    runs: cutover.map((c, i) => ({
      dagId: `d${i}`,
      runId: `r${i}`,
      state: 'success',
      cutover: c,
      logicalDate: null,
      conf: {},
    })),
  });
  test('a half-finished migration is always restored from the backup', () => {
    assert.equal(chooseRestoreMethod('downgrade', backup, since([false]), false).method, 'restore');
  });
  test('auto: restore when only cutover ran, downgrade when production ran', () => {
    assert.equal(chooseRestoreMethod('auto', backup, since([true, true]), true).method, 'restore');
    assert.equal(chooseRestoreMethod('auto', backup, since([true, false]), true).method, 'downgrade');
  });
  test('the plan’s method holds when the migration finished', () => {
    assert.equal(chooseRestoreMethod('restore', backup, since([false]), true).method, 'restore');
    assert.equal(chooseRestoreMethod('downgrade', backup, since([]), true).method, 'downgrade');
  });
});
