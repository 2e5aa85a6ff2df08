/**
 * The upgrade's evidence in the dossier and the dry run, through the common renderers
 * (client/report.ts, cutover plan's renderPlanEvidence): a finished minor upgrade, a major upgrade
 * stopped by its preflight, and the two rollbacks (a migration that failed half-way, restored from
 * the backup; a validation that failed after the switch, downgraded to keep the runs made since).
 * The statuses are built the way the workflow fills them, so a section that stops rendering a
 * figure fails here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseRestoreMethod } from '../activities/upgrade/restore-method.js';
import { renderPlanEvidence } from '../client/commands/plan-run.js';
import { renderDossier } from '../client/dossier.js';
import { renderReport } from '../client/report.js';
import { healthRow, type Assessment, type JudgedHealth } from '../domain/assessment/judge.js';
import type { StepRecord } from '../domain/engine/run.js';
import {
  emptyUpgradeEvidence,
  type BackupRecord,
  type ComponentInventory,
  type UpgradeEvidence,
  type UpgradeStatus,
} from '../domain/upgrade/run.js';

const at = (s: number) => new Date(Date.UTC(2026, 5, 6, 10, 0, s)).toISOString();
const span = (a: number, b: number) => ({ startedAt: at(a), finishedAt: at(b) });
const GREEN = { passed: true, reasons: [] };
const COMPONENTS = ['scheduler', 'api-server', 'dag-processor', 'triggerer'];
const RUN_PREFIX = 'cutover__0f3c2a9e-61f4-4f8e-9d1b-3b1f4f6c7a10';

function health(a: number, b: number, baseline?: Assessment): JudgedHealth {
  const assessment: Assessment = {
    verdict: 'OPERATIONAL',
    components: COMPONENTS.map((c) => ({
      component: c,
      state: 'running',
      details: 'process up, heartbeat 2 s',
    })),
    findings: [],
    recommendations: [],
    counts: { critical: 0, warnings: 0, recommendations: 0 },
  };
  return { ...assessment, ...span(a, b), row: { ...healthRow(assessment, baseline), durationMs: 1_800 } };
}

function inventory(version: string, python: string): ComponentInventory[] {
  return COMPONENTS.map((component) => ({
    component,
    airflowVersion: version,
    python,
    providers: [
      { name: 'apache-airflow-providers-common-io', version: '1.6.2', requiresAirflow: '>=2.10.0' },
      { name: 'apache-airflow-providers-postgres', version: '6.2.1', requiresAirflow: '>=2.10.0' },
      { name: 'apache-airflow-providers-standard', version: '1.4.0', requiresAirflow: '>=2.10.0' },
    ],
    dagsFolder: '/opt/airflow/dags',
    error: null,
  }));
}

const HISTORY = [
  { table: 'dag_run', rows: 1_200 },
  { table: 'task_instance', rows: 48_310 },
  { table: 'xcom', rows: 7_175 },
];
const CHECKSUMS = { dag_run: '9c1f0a7d', task_instance: '41be22e0', xcom: 'd07a5c13' };

const SQL = [
  'BEGIN;',
  '',
  '-- Running upgrade 29ce7909c52b -> 6f2e1a5c8b31, Add deadline_alert table.',
  'CREATE TABLE deadline_alert (id UUID NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id));',
  '',
  "UPDATE alembic_version SET version_num='6f2e1a5c8b31' WHERE alembic_version.version_num = '29ce7909c52b';",
  '',
  'COMMIT;',
].join('\n');

/** The evidence of ASSESS, PREFLIGHT and REHEARSE for the minor upgrade 3.2.2 -> 3.3.2. */
function minorEvidence(): UpgradeEvidence {
  const ev = emptyUpgradeEvidence();
  ev.health = { before: health(0, 2), afterChange: null, afterRollback: null };
  ev.preflight = {
    ...span(2, 10),
    from: '3.2.2',
    to: '3.3.2',
    major: false,
    components: inventory('3.2.2', '3.12.3'),
    targetInstall: '/work/main/.venvs/airflow-3.3.2',
    dbRevision: { revision: '29ce7909c52b', version: '3.2.2' },
    migrationSql: {
      fromRevision: '29ce7909c52b',
      statements: 3,
      bytes: Buffer.byteLength(SQL),
      text: SQL,
      truncated: false,
    },
    db: {
      sizeBytes: 412_000_000,
      largestTables: [
        { table: 'task_instance', rows: 48_310, bytes: 301_000_000 },
        { table: 'xcom', rows: 7_175, bytes: 88_000_000 },
        { table: 'dag_run', rows: 1_200, bytes: 2_400_000 },
      ],
    },
    providers: [
      {
        name: 'apache-airflow-providers-standard',
        installed: '1.4.0',
        target: '1.6.0',
        problem: 'upgraded with the release (1.4.0 -> 1.6.0)',
        blocking: false,
      },
    ],
    configLint: [],
    dagFindings: [],
    checks: [
      {
        name: 'running release',
        status: 'green',
        detail: 'every component runs Airflow 3.2.2',
        durationMs: 2_100,
      },
      {
        name: 'target release installed',
        status: 'green',
        detail: 'Airflow 3.3.2 at /work/main/.venvs/airflow-3.3.2',
        durationMs: 3,
      },
      {
        name: 'providers',
        status: 'amber',
        detail: 'apache-airflow-providers-standard 1.4.0 -> 1.6.0',
        durationMs: 40,
      },
    ],
    gate: GREEN,
  };
  ev.rehearsal = {
    ...span(10, 40),
    database: 'airflow_demo_cutover_rehearsal',
    copyMs: 12_400,
    migrateMs: 8_200,
    fromRevision: '29ce7909c52b',
    toRevision: '6f2e1a5c8b31',
    migrationsCurrent: true,
    rowCounts: HISTORY.map((h) => ({ table: h.table, before: h.rows, after: h.rows })),
    dropped: true,
    gate: GREEN,
  };
  return ev;
}

function backup(): BackupRecord {
  return {
    ...span(100, 115),
    strategy: 'pg-dump',
    location: '/var/tmp/cutover/backups/airflow_demo-airflow-3.2.2-before-3.3.2-cutover-local-demo.dump',
    bytes: 96_500_000,
    sha256: '5d41402abc4b2a76b9719d911017c592e4c1c8e1f2d3a4b5c6d7e8f90a1b2c3d',
    tocEntries: 412,
    durationMs: 14_600,
    rowCounts: HISTORY,
    checksums: CHECKSUMS,
  };
}

/** Everything up to a healthy Airflow 3.3.2 (the switch), as a finished upgrade records it. */
function switchedEvidence(): UpgradeEvidence {
  const ev = minorEvidence();
  ev.backup = backup();
  ev.drain = {
    ...span(115, 120),
    stoppedAt: at(119),
    components: COMPONENTS,
    schedule: [
      { dagId: 'etl_hourly', dueAt: at(125) },
      { dagId: 'reports_daily', dueAt: at(5_000) },
    ],
  };
  ev.migration = {
    ...span(121, 130),
    fromRevision: '29ce7909c52b',
    toRevision: '6f2e1a5c8b31',
    durationMs: 9_020,
    outputTail: 'Running upgrade 29ce7909c52b -> 6f2e1a5c8b31\nDatabase migrating done!',
  };
  ev.applies = [
    {
      ...span(130, 131),
      stage: 'airflow 3.3.2',
      mode: 'env-file',
      changed: true,
      ref: '.cutover/demo/airflow.env',
      revertHandle: 'AIRFLOW_VERSION=3.2.2',
    },
  ];
  ev.started = {
    ...span(131, 150),
    version: '3.3.2',
    components: COMPONENTS.map((name, i) => ({ name, pid: 41_000 + i, startedAt: at(132 + i) })),
    healthyAt: at(149),
  };
  ev.versions = {
    ...span(150, 155),
    expected: '3.3.2',
    components: COMPONENTS.map((component) => ({ component, airflowVersion: '3.3.2', error: null })),
    migrationsCurrent: true,
    gate: GREEN,
  };
  return ev;
}

function validation(validationState: string): UpgradeEvidence['validation'] {
  return {
    ...span(155, 220),
    runs: [
      {
        dagId: 'billing_export',
        runId: `${RUN_PREFIX}__critical__billing_export`,
        state: 'success',
        critical: true,
        durationMs: 21_000,
      },
      {
        dagId: 'etl_hourly',
        runId: `${RUN_PREFIX}__critical__etl_hourly`,
        state: 'success',
        critical: true,
        durationMs: 17_500,
      },
      {
        dagId: 'upgrade_validation',
        runId: `${RUN_PREFIX}__validation__upgrade_validation`,
        state: validationState,
        critical: false,
        durationMs: 24_300,
      },
    ],
    schedule: [{ dagId: 'etl_hourly', dueAt: at(125), scheduled: true }],
    gate:
      validationState === 'success'
        ? GREEN
        : {
            passed: false,
            reasons: [
              `upgrade_validation/${RUN_PREFIX}__validation__upgrade_validation ended ${validationState}`,
            ],
          },
  };
}

const step = (
  phase: string,
  name: string,
  a: number | null,
  b: number | null,
  summary = 'ok',
): StepRecord => ({
  phase,
  step: name,
  status: a === null ? 'failed' : 'ok',
  summary,
  ...(a !== null && b !== null ? span(a, b) : {}),
});

const EVIDENCE_STEPS: StepRecord[] = [
  step('ASSESS', 'read the deployment', 0, 2),
  step('PREFLIGHT', 'read-only checks', 2, 10),
  step('REHEARSE', 'rehearse the migration on a copy', 10, 40),
];
const CHANGE_STEPS: StepRecord[] = [
  step('BACKUP', 'back up (pg-dump)', 100, 115),
  step('DRAIN', 'stop every component', 115, 120),
  step('DRAIN', 'count the history tables', 120, 121),
];

function status(ev: UpgradeEvidence, over: Partial<UpgradeStatus>): UpgradeStatus {
  return {
    workflowId: 'cutover/local-demo/airflow-upgrade-local',
    runbook: 'AirflowUpgrade',
    planName: 'airflow-upgrade-local',
    target: 'local-demo',
    planDigest: 'sha256:ecac7bf007ea2d6a',
    startedBy: 'alice',
    phase: 'FINISHED',
    details: '',
    steps: EVIDENCE_STEPS,
    evidence: ev,
    decision: {
      kind: 'approve',
      operator: 'bob',
      reason: 'SQL and rehearsal reviewed',
      digest: 'sha256:ecac7bf007ea2d6a',
      via: 'update',
    },
    compensation: null,
    pendingApproval: null,
    refusals: [],
    outcome: 'DONE',
    ...over,
  };
}

function headings(md: string): string[] {
  return [...md.matchAll(/^## (\d+)\. (.+)$/gm)].map((m) => `${m[1]}. ${m[2]}`);
}

/** The text of one numbered section, up to the next one. */
function section(md: string, title: string): string {
  const start = md.search(new RegExp(`^## \\d+\\. ${title.replace(/[()]/g, '\\$&')}$`, 'm'));
  assert.ok(start >= 0, `no section ${title}`);
  const rest = md.slice(start + 1);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

function dryRun(ev: UpgradeEvidence, outcome: 'PLANNED' | 'STOPPED', reason: string): string {
  const s = status(ev, { decision: null, outcome, details: reason });
  return renderPlanEvidence(
    { outcome, reason, productionChanged: false, status: s },
    'plans/airflow-upgrade.yaml',
  ).join('\n');
}

void test('DONE: every section of a minor upgrade, with its figures', () => {
  const ev = switchedEvidence();
  ev.validation = validation('success');
  ev.health = { before: health(0, 2), afterChange: health(156, 158, health(0, 2)), afterRollback: null };
  const done = status(ev, {
    steps: [
      ...EVIDENCE_STEPS,
      ...CHANGE_STEPS,
      step('MIGRATE', 'migrate to Airflow 3.3.2', 121, 130),
      step('SWITCH', 'apply airflow 3.3.2', 130, 131),
      step('SWITCH', 'start Airflow 3.3.2', 131, 150),
      step('VERIFY', 'verify Airflow 3.3.2', 150, 155),
      step('VALIDATE', 'validate on the new release', 155, 220),
    ],
  });
  const md = renderReport(done);
  assert.deepEqual(headings(md), [
    '1. Deployment health before',
    '2. Preflight',
    '3. Migration SQL',
    '4. Rehearsal',
    '5. Operator decision',
    '6. Backup',
    '7. Drain',
    '8. Migration',
    '9. Switch and verify',
    '10. Validation',
    '11. Downtime',
    '12. Deployment health after',
  ]);
  assert.match(
    section(md, 'Deployment health before'),
    /\*\*deployment healthy: green \(OPERATIONAL: no finding\)\*\*/,
  );
  assert.match(
    section(md, 'Deployment health before'),
    /\| dag-processor \| running \| process up, heartbeat 2 s \|/,
  );

  const pf = section(md, 'Preflight');
  assert.match(pf, /Airflow 3\.2\.2 -> 3\.3\.2: a minor upgrade\./);
  assert.match(pf, /\| running release \| green \| every component runs Airflow 3\.2\.2 \| 2\.1 s \|/);
  assert.match(pf, /\| providers \| \*\*amber\*\* \|/);
  assert.match(pf, /\| triggerer \| 3\.2\.2 \| 3\.12\.3 \| 3 \| – \|/);
  assert.match(
    pf,
    /Airflow 3\.3\.2 is installed at \/work\/main\/\.venvs\/airflow-3\.3\.2; the metadata DB is at schema revision 29ce7909c52b \(Airflow 3\.2\.2\)/,
  );
  assert.match(
    pf,
    /\| apache-airflow-providers-standard \| 1\.4\.0 -> 1\.6\.0 \| no \| upgraded with the release/,
  );
  assert.match(pf, /Not run: a minor upgrade keeps the config options\./);
  assert.match(pf, /Size: \*\*412 MB\*\*/);
  assert.match(pf, /\| task_instance \| 48 310 \| 301 MB \|/);

  const sql = section(md, 'Migration SQL');
  assert.match(sql, /\*\*3 statement\(s\), 310 B, from revision 29ce7909c52b\*\*/);
  assert.ok(sql.includes(`\`\`\`sql\n${SQL}\n\`\`\``), sql);
  assert.doesNotMatch(sql, /Truncated/);

  const reh = section(md, 'Rehearsal');
  assert.match(reh, /\| Copy time \| 12 s \|/);
  assert.match(reh, /\| Migration time \(the downtime it predicts\) \| 8\.2 s \|/);
  assert.match(reh, /\| Copy dropped \| yes \|/);
  assert.match(reh, /\| task_instance \| 48 310 \| 48 310 \| yes \|/);
  assert.match(reh, /Gate: \*\*green\*\*\./);

  const b = section(md, 'Backup');
  assert.match(b, /\| Strategy \| pg-dump \(`pg_dump -Fc`, taken while Airflow still ran\) \|/);
  assert.match(b, /\| Size \| 96\.5 MB \|/);
  assert.match(b, /\| sha256 \| `5d41402abc4b2a76b9719d911017c592e4c1c8e1f2d3a4b5c6d7e8f90a1b2c3d` \|/);
  assert.match(b, /\| TOC entries \(`pg_restore --list`\) \| 412 \|/);
  assert.match(b, /\| Time \| 15 s \|/);
  assert.match(b, /\| xcom \| 7 175 \| `d07a5c13` \|/);
  assert.doesNotMatch(b, /Taken \d+ times/);

  const d = section(md, 'Drain');
  assert.ok(
    d.includes(`Every component stopped at **${at(119)}** (scheduler, api-server, dag-processor, triggerer)`),
  );
  assert.ok(d.includes(`| etl_hourly | ${at(125)} | yes |`));
  assert.ok(d.includes(`| reports_daily | ${at(5_000)} | no |`));

  const m = section(md, 'Migration');
  assert.match(m, /\| Revisions \| `29ce7909c52b` -> `6f2e1a5c8b31` \|/);
  assert.match(m, /The migration took \*\*9 s\*\*, \*\*1\.10×\*\* the 8\.2 s the rehearsal predicted\./);
  assert.match(m, /Database migrating done!/);

  const sw = section(md, 'Switch and verify');
  assert.match(sw, /\| airflow 3\.3\.2 \| env-file \| yes \| `\.cutover\/demo\/airflow\.env` \|/);
  assert.ok(sw.includes(`every component answered healthy at **${at(149)}**`));
  assert.match(sw, /\| scheduler \| 41000 \|/);
  assert.match(sw, /\| api-server \| 3\.3\.2 \| yes \| – \|/);
  assert.match(sw, /Schema at Airflow 3\.3\.2's head \(`airflow db check-migrations`\): yes\./);

  const v = section(md, 'Validation');
  assert.match(v, /2 critical DAG\(s\) first, then the validation DAG/);
  const order = [
    ...v.matchAll(/^\| (\d) \| (\w+) \|.*\| (critical|validation) \| (\w+) \| ([^|]+) \|$/gm),
  ].map((r) => `${r[1]} ${r[2]} ${r[3]} ${r[4]} ${r[5]?.trim()}`);
  assert.deepEqual(order, [
    '1 billing_export critical success 21 s',
    '2 etl_hourly critical success 18 s',
    '3 upgrade_validation validation success 24 s',
  ]);
  assert.match(v, /DAGs due during the downtime, scheduled on the new release: 1\/1\./);

  const down = section(md, 'Downtime');
  assert.ok(
    down.includes(
      `Scheduler down -> healthy on Airflow 3.3.2: **30 s** (stopped at ${at(119)}, every component healthy at ${at(149)})`,
    ),
    down,
  );
  assert.match(down, /Of which the migration 9 s; the rest is stopping and starting the components\./);
  assert.doesNotMatch(down, /With the rollback/);

  assert.match(
    section(md, 'Deployment health after'),
    /On the new release .*: \*\*left healthy: green \(nothing got worse \(OPERATIONAL before, OPERATIONAL now\)\)\*\*/,
  );
  assert.doesNotMatch(md, /Compensation \(kill-switch\)/);

  // The HTML page renders the same Markdown: the SQL is a code block of its own.
  const html = renderDossier(done, 'html');
  assert.ok(html.includes('<pre><code data-lang="sql">BEGIN;\n'), 'the SQL block in the HTML page');
  assert.ok(html.includes('PRIMARY KEY (id));\n\nUPDATE alembic_version'), 'the SQL whole, blank lines kept');
});

void test('the dry run of the minor upgrade: health, preflight with the SQL, rehearsal', () => {
  const out = dryRun(minorEvidence(), 'PLANNED', 'evidence complete');
  assert.match(out, /^1\. ASSESS green\n {3}deployment healthy: green \(OPERATIONAL: no finding\)/m);
  assert.match(out, /^2\. PREFLIGHT green$/m);
  assert.match(out, /^ {3}AMBER +providers +40 +apache-airflow-providers-standard 1\.4\.0 -> 1\.6\.0$/m);
  assert.match(out, /^ {3}Airflow 3\.2\.2 -> 3\.3\.2: a minor upgrade$/m);
  assert.match(out, /^ {5}scheduler +3\.2\.2 +3\.12\.3 +3$/m);
  assert.match(out, /^ {3}metadata DB: 412 MB; largest tables:$/m);
  assert.match(out, /^ {3}migration SQL: 3 statement\(s\), 310 B, from revision 29ce7909c52b$/m);
  assert.match(out, /^ {5}CREATE TABLE deadline_alert /m);
  assert.match(out, /^3\. REHEARSAL green$/m);
  assert.match(out, /^ {3}migration time \(the downtime it predicts\): +8\.2 s$/m);
  assert.match(out, /^ {3}xcom +7 175 +7 175 +yes$/m);
  assert.match(out, /^PLANNED: the evidence is complete and nothing was changed\. To run it for real:$/m);
});

/** A 2.11.2 -> 3.3.2 preflight that finds what Airflow 3 removed: red, nothing rehearsed. */
function majorStoppedEvidence(): UpgradeEvidence {
  const ev = emptyUpgradeEvidence();
  ev.health = { before: health(0, 2), afterChange: null, afterRollback: null };
  const longSql = `BEGIN;\n${'ALTER TABLE task_instance ADD COLUMN x INTEGER;\n'.repeat(1_700)}COMMIT;\n`;
  const kept = longSql.slice(0, 32 * 1024);
  const reasons = [
    'config for Airflow 3: [webserver] secret_key: moved to [api] secret_key in Airflow 3.0',
    'DAGs for Airflow 3: dags/legacy_imports.py:3 AIR301 `airflow.operators.dummy.DummyOperator` is removed in Airflow 3.0',
    'providers: apache-airflow-providers-slack: not in the target release’s install: DAGs that use it break',
  ];
  ev.preflight = {
    ...span(2, 30),
    from: '2.11.2',
    to: '3.3.2',
    major: true,
    components: inventory('2.11.2', '3.11.9'),
    targetInstall: '/work/main/.venvs/airflow-3.3.2',
    dbRevision: { revision: '5f2621c13b39', version: '2.11.2' },
    migrationSql: {
      fromRevision: '5f2621c13b39',
      statements: 1_702,
      bytes: Buffer.byteLength(longSql),
      text: kept,
      truncated: true,
    },
    db: {
      sizeBytes: 80_000_000,
      largestTables: [{ table: 'task_instance', rows: 20_000, bytes: 60_000_000 }],
    },
    providers: [
      {
        name: 'apache-airflow-providers-slack',
        installed: '8.9.1',
        target: null,
        problem: 'not in the target release’s install: DAGs that use it break',
        blocking: true,
      },
    ],
    configLint: [
      { section: 'webserver', option: 'secret_key', message: 'moved to [api] secret_key in Airflow 3.0' },
    ],
    dagFindings: [
      {
        file: 'dags/legacy_imports.py',
        line: 3,
        rule: 'AIR301',
        breaking: true,
        message: '`airflow.operators.dummy.DummyOperator` is removed in Airflow 3.0',
      },
    ],
    checks: [
      {
        name: 'running release',
        status: 'green',
        detail: 'every component runs Airflow 2.11.2',
        durationMs: 2_400,
      },
      {
        name: 'providers',
        status: 'red',
        detail: reasons[2]?.slice('providers: '.length) ?? '',
        durationMs: 30,
      },
      { name: 'config for Airflow 3', status: 'red', detail: reasons[0]?.slice(22) ?? '', durationMs: 4_100 },
      { name: 'DAGs for Airflow 3', status: 'red', detail: reasons[1]?.slice(20) ?? '', durationMs: 900 },
    ],
    gate: { passed: false, reasons },
  };
  return ev;
}

void test('STOPPED at PREFLIGHT: a major upgrade with Airflow 3 findings, named file:line and option', () => {
  const ev = majorStoppedEvidence();
  const reason = `PREFLIGHT gate red, nothing changed: ${ev.preflight?.gate.reasons.join('; ')}`;
  const md = renderReport(status(ev, { decision: null, outcome: 'STOPPED', details: reason }));
  const pf = section(md, 'Preflight');
  assert.match(
    pf,
    /Airflow 2\.11\.2 -> 3\.3\.2: a major upgrade \(the Airflow 3 config lint and DAG rules apply\)\./,
  );
  assert.match(pf, /\| DAGs for Airflow 3 \| \*\*red\*\* \| dags\/legacy_imports\.py:3 AIR301/);
  assert.match(pf, /\| \[webserver\] \| secret_key \| moved to \[api\] secret_key in Airflow 3\.0 \|/);
  assert.match(
    pf,
    /\| dags\/legacy_imports\.py:3 \| AIR301 \| `airflow\.operators\.dummy\.DummyOperator` is removed in Airflow 3\.0 \|/,
  );
  assert.match(
    pf,
    /\| apache-airflow-providers-slack \| 8\.9\.1 -> \(not in the target install\) \| yes \| not in the target release’s install/,
  );
  assert.match(pf, /\| scheduler \| 2\.11\.2 \| 3\.11\.9 \| 3 \|/);
  assert.match(pf, /Gate: \*\*RED\*\*: config for Airflow 3: \[webserver\] secret_key/);

  const sql = section(md, 'Migration SQL');
  assert.match(sql, /\*\*1 702 statement\(s\), 81\.6 KB, from revision 5f2621c13b39\*\*/);
  assert.match(sql, /_Truncated: the first 32\.8 KB of 81\.6 KB are kept in the run's history/);
  assert.equal(section(md, 'Rehearsal').trim().split('\n').at(-1), '_Not reached._');
  for (const title of ['Backup', 'Drain', 'Migration', 'Switch and verify', 'Validation', 'Downtime'])
    assert.equal(section(md, title).trim().split('\n').at(-1), '_Not reached._', title);
  assert.match(md, /_No decision recorded\._/);

  const out = dryRun(ev, 'STOPPED', reason);
  assert.match(out, /^2\. PREFLIGHT RED$/m);
  assert.match(out, /^ {3}RED +DAGs for Airflow 3 +900 +dags\/legacy_imports\.py:3 AIR301/m);
  assert.match(
    out,
    /^ {3}config lint \(Airflow 3\):\n {5}section +option +finding\n {5}\[webserver\] +secret_key +moved to \[api\] secret_key/m,
  );
  assert.match(
    out,
    /^ {5}dags\/legacy_imports\.py:3 +AIR301 +`airflow\.operators\.dummy\.DummyOperator` is removed/m,
  );
  assert.match(out, /^ {5}apache-airflow-providers-slack +8\.9\.1 -> \(not in the target install\)/m);
  assert.match(out, /shows it up to 32 KB$/m);
  assert.match(out, /^3\. REHEARSAL\n {3}not reached$/m);
  assert.match(out, /^STOPPED: PREFLIGHT gate red, nothing changed: /m);
});

void test('ROLLED_BACK after a failed migration: restored from the backup, the old release back, the rollback time', () => {
  const ev = minorEvidence();
  ev.backup = backup();
  ev.drain = { ...span(115, 120), stoppedAt: at(119), components: COMPONENTS, schedule: [] };
  const choice = chooseRestoreMethod('auto', ev.backup, null, false);
  ev.restore = {
    ...span(140, 170),
    method: choice.method,
    reason: choice.reason,
    durationMs: 26_700,
    rowCounts: HISTORY,
    checksumsMatch: true,
  };
  ev.restarted = {
    ...span(170, 190),
    version: '3.2.2',
    components: COMPONENTS.map((name, i) => ({ name, pid: 52_000 + i, startedAt: at(171 + i) })),
    healthyAt: at(189),
  };
  ev.rolledBackVersions = {
    ...span(190, 195),
    expected: '3.2.2',
    components: COMPONENTS.map((component) => ({ component, airflowVersion: '3.2.2', error: null })),
    migrationsCurrent: true,
    gate: GREEN,
  };
  ev.health = { before: health(0, 2), afterChange: null, afterRollback: health(195, 197, health(0, 2)) };
  const error =
    'airflow db migrate (3.3.2) failed: sqlalchemy.exc.IntegrityError: could not create unique index "deadline_alert_pkey"';
  const md = renderReport(
    status(ev, {
      outcome: 'ROLLED_BACK',
      steps: [
        ...EVIDENCE_STEPS,
        ...CHANGE_STEPS,
        step('MIGRATE', 'drill: break the migration', 121, 122),
        step('MIGRATE', 'migrate to Airflow 3.3.2', null, null, error),
        step('COMPENSATE', 'bring the metadata DB back', 140, 170),
        step('COMPENSATE', 'start Airflow 3.2.2', 170, 190),
        step('COMPENSATE', 'verify Airflow 3.2.2', 190, 195),
      ],
      compensation: {
        trigger: { phase: 'MIGRATE', error },
        completed: [
          'restore the metadata DB',
          'start Airflow 3.2.2 again',
          'rerunOnOldRelease',
          'leftHealthy',
        ],
        failed: null,
        remaining: [],
        undoRemaining: [],
        operatorActions: [],
      },
    }),
  );
  assert.ok(section(md, 'Migration').includes(`**Failed**: migrate to Airflow 3.3.2: ${error}`));
  assert.equal(section(md, 'Switch and verify').trim().split('\n').at(-1), '_Not reached._');

  const comp = section(md, 'Compensation (kill-switch)');
  assert.match(comp, /### The metadata DB brought back: restored from the backup/);
  assert.match(
    comp,
    /\*\*Why restore\*\*: the migration did not finish: the schema may be half-migrated, only the backup is sure\./,
  );
  assert.match(
    comp,
    /\| Method \| restore: `pg_restore` of `\/var\/tmp\/cutover\/backups\/airflow_demo-airflow-3\.2\.2-before-3\.3\.2/,
  );
  assert.match(comp, /\| Time \| 27 s \|/);
  assert.match(comp, /\| History checksums equal to the backup’s \| yes \|/);
  assert.match(comp, /\| task_instance \| 48 310 \| 48 310 \|/);
  assert.match(comp, /### Airflow 3\.2\.2 started again/);
  assert.ok(comp.includes(`every component answered healthy at **${at(189)}**`));
  assert.match(comp, /\| dag-processor \| 3\.2\.2 \| yes \| – \|/);
  assert.ok(
    comp.includes(
      `Rollback time: **49 s**, from the failure (${at(140)}, kill-switch start: MIGRATE / migrate to Airflow 3.3.2) to Airflow 3.2.2 healthy again (${at(189)}).`,
    ),
    comp,
  );
  assert.doesNotMatch(comp, /run again on the old one/);
  assert.ok(
    section(md, 'Downtime').includes(
      `With the rollback: from the stop (${at(119)}) until the old release answered healthy again (${at(189)}): **1 min 10 s**.`,
    ),
  );
  assert.match(
    section(md, 'Deployment health after'),
    /After the rollback, on the old release .*left healthy: green/,
  );
});

void test('ROLLED_BACK after a failed validation: downgraded to keep the runs made since, which run again', () => {
  const ev = switchedEvidence();
  ev.validation = validation('failed');
  ev.health = { before: health(0, 2), afterChange: health(156, 158, health(0, 2)), afterRollback: null };
  ev.reverts = [
    {
      ...span(221, 222),
      stage: 'airflow 3.3.2',
      ref: '.cutover/demo/airflow.env',
      changed: true,
      restoredEnv: { AIRFLOW_VERSION: '3.2.2' },
    },
  ];
  ev.runsSinceSwitch = {
    ...span(222, 223),
    since: at(119),
    runs: [
      {
        dagId: 'etl_hourly',
        runId: 'scheduled__2026-06-06T10:00:00+00:00',
        state: 'success',
        cutover: false,
        logicalDate: '2026-06-06T10:00:00+00:00',
        conf: {},
      },
      {
        dagId: 'upgrade_validation',
        runId: `${RUN_PREFIX}__validation__upgrade_validation`,
        state: 'failed',
        cutover: true,
        logicalDate: null,
        conf: { fail: true },
      },
    ],
  };
  const choice = chooseRestoreMethod('auto', ev.backup, ev.runsSinceSwitch, true);
  assert.equal(choice.method, 'downgrade');
  ev.restore = {
    ...span(223, 260),
    method: choice.method,
    reason: choice.reason,
    durationMs: 31_500,
    rowCounts: [
      { table: 'dag_run', rows: 1_202 },
      { table: 'task_instance', rows: 48_318 },
      { table: 'xcom', rows: 7_177 },
    ],
    checksumsMatch: null,
  };
  ev.restarted = {
    ...span(260, 285),
    version: '3.2.2',
    components: COMPONENTS.map((name, i) => ({ name, pid: 61_000 + i, startedAt: at(261 + i) })),
    healthyAt: at(284),
  };
  ev.rolledBackVersions = {
    ...span(285, 290),
    expected: '3.2.2',
    components: COMPONENTS.map((component) => ({ component, airflowVersion: '3.2.2', error: null })),
    migrationsCurrent: true,
    gate: GREEN,
  };
  ev.retriggered = {
    ...span(290, 330),
    runs: [
      {
        dagId: 'etl_hourly',
        runId: 'scheduled__2026-06-06T10:00:00+00:00',
        how: 'rerun',
        finalState: 'success',
      },
    ],
  };
  const error = `VALIDATE gate red: upgrade_validation/${RUN_PREFIX}__validation__upgrade_validation ended failed`;
  const md = renderReport(
    status(ev, {
      outcome: 'ROLLED_BACK',
      steps: [
        ...EVIDENCE_STEPS,
        ...CHANGE_STEPS,
        step('MIGRATE', 'migrate to Airflow 3.3.2', 121, 130),
        step('SWITCH', 'apply airflow 3.3.2', 130, 131),
        step('SWITCH', 'start Airflow 3.3.2', 131, 150),
        step('VERIFY', 'verify Airflow 3.3.2', 150, 155),
        step('VALIDATE', 'validate on the new release', 155, 220),
        step('COMPENSATE', 'revert airflow 3.3.2', 221, 222),
        step('COMPENSATE', 'find DAG runs made on Airflow 3.3.2', 222, 223),
        step('COMPENSATE', 'bring the metadata DB back', 223, 260),
        step('COMPENSATE', 'start Airflow 3.2.2', 260, 285),
        step('COMPENSATE', 'verify Airflow 3.2.2', 285, 290),
        step('COMPENSATE', 'run again on Airflow 3.2.2', 290, 330),
      ],
      compensation: {
        trigger: { phase: 'VALIDATE', error },
        completed: [
          'revert airflow 3.3.2',
          'restore the metadata DB',
          'start Airflow 3.2.2 again',
          'rerunOnOldRelease',
          'leftHealthy',
        ],
        failed: null,
        remaining: [],
        undoRemaining: [],
        operatorActions: [],
      },
    }),
  );
  const v = section(md, 'Validation');
  assert.match(v, /\| 3 \| upgrade_validation \| .* \| validation \| \*\*failed\*\* \| 24 s \|/);
  assert.match(v, /Gate: \*\*RED\*\*: upgrade_validation\/.* ended failed\./);

  const comp = section(md, 'Compensation (kill-switch)');
  assert.match(
    comp,
    /\| airflow 3\.3\.2 \| `\.cutover\/demo\/airflow\.env` \| yes \| AIRFLOW_VERSION=3\.2\.2 \|/,
  );
  assert.match(comp, /DAG runs made on the new release since .*: 2\./);
  assert.match(
    comp,
    /\| etl_hourly \| `scheduled__2026-06-06T10:00:00\+00:00` \| success \| Airflow \/ users \|/,
  );
  assert.match(comp, /### The metadata DB brought back: `airflow db downgrade`/);
  assert.match(
    comp,
    /\*\*Why downgrade\*\*: 1 DAG run\(s\) not made by cutover were written since the switch \(etl_hourly\/scheduled__2026-06-06T10:00:00\+00:00\): a downgrade keeps them, a restore would lose them\./,
  );
  assert.match(
    comp,
    /\| History checksums equal to the backup’s \| not comparable \(a downgrade keeps the runs since\) \|/,
  );
  assert.match(comp, /\| dag_run \| 1 200 \| 1 202 \|/);
  assert.match(comp, /### Runs made on the new release, run again on the old one/);
  assert.match(
    comp,
    /\| etl_hourly \| `scheduled__2026-06-06T10:00:00\+00:00` \| re-run \(cleared: the downgrade kept the run\) \| success \|/,
  );
  assert.ok(
    comp.includes(
      `Rollback time: **1 min 4 s**, from the failure (${at(220)}, failing step: VALIDATE / validate on the new release) to Airflow 3.2.2 healthy again (${at(284)}).`,
    ),
    comp,
  );
  // The switch's downtime is still told, and the whole window back to the old release with it.
  const down = section(md, 'Downtime');
  assert.match(down, /Scheduler down -> healthy on Airflow 3\.3\.2: \*\*30 s\*\*/);
  assert.match(down, /until the old release answered healthy again .*: \*\*2 min 45 s\*\*/);
});
