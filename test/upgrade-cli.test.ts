/**
 * The upgrade's checks and migration commands on REAL Airflow venvs (3.2.2 and 2.11.2 beside the
 * default 3.3.2, the target) and the machine's PostgreSQL: each test makes its own databases and
 * drops them. Plus the inventory probe in the 3.2.2 and 2.11.2 venvs through LocalExecPort, ruff's
 * Airflow 3 rules over the fixture DAGs, and the parsers on the shapes real output cannot show.
 *
 * ruff: $CUTOVER_RUFF_BIN, else the default venv's bin/ruff, else `ruff` on PATH.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { PermanentFault } from '../activities/engine/errors.js';
import { AirflowUpgradeCli, type CommandOutcome } from '../adapters/airflow-upgrade-cli.js';
import { extractCliError, parseConfigLint, parseMigrationSql } from '../adapters/airflow-upgrade-parse.js';
import { LocalExecPort } from '../adapters/exec/local.js';
import { UpgradeInventoryProbe } from '../adapters/upgrade-inventory.js';
import type { Component } from '../domain/plan.js';
import { repoRoot, venvDir } from './support/airflow-db.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

const run = promisify(execFile);
const SLOW = { timeout: 300_000 };

const ROOT = repoRoot();
const TARGET = venvDir();
const VENV_322 = path.join(ROOT, '.venvs', 'airflow-3.2.2');
const VENV_2112 = path.join(ROOT, '.venvs', 'airflow-2.11.2');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'upgrade');
const DRILLS = path.join(ROOT, 'drills');

function ruffBin(): string {
  const fromEnv = process.env.CUTOVER_RUFF_BIN?.trim();
  if (fromEnv) return fromEnv;
  const inVenv = path.join(TARGET, 'bin', 'ruff');
  return existsSync(inVenv) ? inVenv : 'ruff';
}

const cli = new AirflowUpgradeCli({ targetVenv: TARGET, ruffBin: ruffBin(), heartbeatEveryMs: 1000 });
const databases: TestDatabase[] = [];

async function newDb(prefix: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  databases.push(db);
  return db;
}

async function psqlFile(db: TestDatabase, file: string): Promise<void> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(readFileSync(file, 'utf8'));
  } finally {
    await client.end();
  }
}

async function query<T extends pg.QueryResultRow>(db: TestDatabase, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Schema (columns, indexes, constraints), alembic_version and every table's row count. */
async function fingerprint(db: TestDatabase): Promise<Record<string, string>> {
  const [schema] = await query<{ columns: string; indexes: string; constraints: string }>(
    db,
    `SELECT
       (SELECT md5(string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable, ','
                   ORDER BY table_name, column_name))
          FROM information_schema.columns WHERE table_schema = 'public') AS columns,
       (SELECT md5(string_agg(indexdef, ',' ORDER BY indexdef)) FROM pg_indexes WHERE schemaname = 'public') AS indexes,
       (SELECT md5(string_agg(conname || pg_get_constraintdef(oid), ',' ORDER BY conname))
          FROM pg_constraint WHERE connamespace = 'public'::regnamespace) AS constraints`,
  );
  const tables = await query<{ t: string }>(
    db,
    "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
  );
  const counts = await query<{ counts: string }>(
    db,
    `SELECT concat_ws(',', ${tables
      .map((r) => `'${r.t}=' || (SELECT count(*) FROM ${pg.escapeIdentifier(r.t)})`)
      .join(', ')}) AS counts`,
  );
  const version = await query<{ v: string }>(db, 'SELECT version_num AS v FROM alembic_version');
  return {
    ...(schema ?? {}),
    counts: counts[0]?.counts ?? '',
    alembic: version.map((r) => r.v).join(','),
  };
}

function assertOk(outcome: CommandOutcome, what: string): void {
  assert.ok(outcome.ok, `${what} failed (exit ${outcome.exitCode}): ${outcome.error}\n${outcome.outputTail}`);
}

void describe('AirflowUpgradeCli on real Airflow 3.2.2 / 2.11.2 / 3.3.2 venvs and PostgreSQL', () => {
  let minor: TestDatabase;
  let target: { head: string; version: string };

  before(async () => {
    for (const v of [TARGET, VENV_322, VENV_2112]) {
      assert.ok(
        existsSync(path.join(v, 'bin', 'airflow')),
        `no Airflow venv at ${v} (scripts/setup.sh makes it)`,
      );
    }
    minor = await newDb('upc_minor');
    assertOk(await cli.migrate({ venv: VENV_322, dbUrl: minor.sqlalchemyUrl }), '3.2.2 db migrate');
    const empty = await cli.dbRevision(minor.sqlalchemyUrl);
    target = { head: empty.venvHeads[0] ?? '', version: empty.venvAirflowVersion };
  });

  after(async () => {
    for (const db of databases) await db.drop();
  });

  void test(
    'dbRevision: a 3.2.2 DB is at 3.2.2 head, which 3.3.2 knows as the 3.2.0 release head',
    SLOW,
    async () => {
      const own = await cli.dbRevision(minor.sqlalchemyUrl, VENV_322);
      assert.equal(own.venvAirflowVersion, '3.2.2');
      assert.ok(own.atVenvHead, `3.2.2 DB not at 3.2.2 head: ${JSON.stringify(own)}`);

      const seen = await cli.dbRevision(minor.sqlalchemyUrl);
      assert.equal(seen.venvAirflowVersion, '3.3.2');
      assert.equal(seen.revision, own.revision);
      assert.equal(seen.knownToVenv, true);
      assert.equal(seen.atVenvHead, false);
      assert.equal(seen.airflowVersion, '3.2.0');
      assert.equal(seen.releaseHeadOf, '3.2.0');
    },
  );

  void test(
    'migrationSql from a 3.2.2 DB: SQL to the 3.3.2 head, the manual step named, DB unchanged',
    SLOW,
    async () => {
      const before = await fingerprint(minor);
      const plan = await cli.migrationSql({ venv: TARGET, dbUrl: minor.sqlalchemyUrl });
      const after = await fingerprint(minor);
      // The CLI's audit-log row is refused by the read-only session: the log table's count is in `counts`.
      assert.deepEqual(after, before, 'show-sql-only changed the database');

      assert.equal(plan.nothingToDo, false);
      assert.equal(plan.fromRevision, before['alembic']);
      assert.equal(plan.toRevision, target.head);
      assert.ok(plan.statementCount > 0);
      assert.match(plan.sql, /^BEGIN;/);
      assert.match(plan.sql, /COMMIT;$/);
      assert.doesNotMatch(plan.sql, /\[info\s*\]/, 'log lines left in the SQL');
      assert.equal(plan.steps[0]?.from, plan.fromRevision);
      assert.equal(plan.steps.at(-1)?.to, target.head);
      const stamps = plan.sql.match(/^UPDATE alembic_version /gm) ?? [];
      assert.equal(stamps.length, plan.steps.length, 'one version stamp per step');
      // 3.3.0's deadline_alert conversion prints instructions instead of SQL offline.
      const manual = plan.manualSteps.find((m) => m.text.includes('deadline_alert'));
      assert.ok(manual, `no manual step about deadline_alert: ${JSON.stringify(plan.manualSteps)}`);
      assert.match(manual.text, /^Manual conversion required:/);
    },
  );

  void test(
    'migrate 3.2.2 -> 3.3.2, check-migrations passes with 3.3.2 and names both heads with 3.2.2',
    SLOW,
    async () => {
      const beats: unknown[] = [];
      const from = (await cli.readRevisions(VENV_322, minor.sqlalchemyUrl)).revisions[0];
      const outcome = await cli.migrate({
        venv: TARGET,
        dbUrl: minor.sqlalchemyUrl,
        heartbeat: (d) => beats.push(d),
      });
      assertOk(outcome, '3.3.2 db migrate');
      assert.equal(outcome.fromRevision, from);
      assert.equal(outcome.toRevision, target.head);
      assert.equal(outcome.stepsStarted[0]?.from, from);
      assert.equal(outcome.stepsStarted.at(-1)?.to, target.head);
      assert.ok(
        beats.some((b) => JSON.stringify(b).includes(`-> ${target.head}`)),
        `no heartbeat named the last step: ${JSON.stringify(beats)}`,
      );

      const ok = await cli.checkMigrations({ venv: TARGET, dbUrl: minor.sqlalchemyUrl, timeoutS: 1 });
      assert.deepEqual(ok, {
        ok: true,
        exitCode: 0,
        dbHeads: [target.head],
        sourceHeads: [target.head],
        error: null,
      });

      const old = await cli.checkMigrations({ venv: VENV_322, dbUrl: minor.sqlalchemyUrl, timeoutS: 0 });
      assert.equal(old.ok, false);
      assert.notEqual(old.exitCode, 0);
      assert.deepEqual(old.dbHeads, [target.head]);
      assert.deepEqual(old.sourceHeads, [from]);
      assert.match(old.error ?? '', /TimeoutError/);

      const sql = await cli.migrationSql({ venv: TARGET, dbUrl: minor.sqlalchemyUrl });
      assert.equal(sql.nothingToDo, true);
      assert.equal(sql.statementCount, 0);
    },
  );

  void test(
    'downgrade --to-version 3.2.2 with 3.3.2 scripts: 3.2.2 check-migrations passes again',
    SLOW,
    async () => {
      const back = await cli.downgrade({ venv: TARGET, dbUrl: minor.sqlalchemyUrl, toVersion: '3.2.2' });
      assertOk(back, 'db downgrade');
      assert.equal(back.fromRevision, target.head);
      const own = await cli.dbRevision(minor.sqlalchemyUrl, VENV_322);
      assert.equal(back.toRevision, own.revision);
      assert.ok(own.atVenvHead);
      assert.ok(back.stepsStarted.length > 0 && back.stepsStarted[0]?.from === target.head);
      const check = await cli.checkMigrations({ venv: VENV_322, dbUrl: minor.sqlalchemyUrl, timeoutS: 1 });
      assert.equal(check.ok, true);
    },
  );

  void test(
    'the break-migration drill (airflow3) makes 3.3.2 migrate fail mid-way and leaves an intermediate revision',
    SLOW,
    async () => {
      const db = await newDb('upc_break');
      assertOk(await cli.migrate({ venv: VENV_322, dbUrl: db.sqlalchemyUrl }), '3.2.2 db migrate');
      await psqlFile(db, path.join(DRILLS, 'upgrade-break-migration-airflow3.sql'));
      const failed = await cli.migrate({ venv: TARGET, dbUrl: db.sqlalchemyUrl });

      assert.equal(failed.ok, false);
      assert.notEqual(failed.exitCode, 0);
      assert.match(failed.error ?? '', /DuplicateTable\) relation "ti_dag_version_id" already exists/);
      const left = await cli.dbRevision(db.sqlalchemyUrl);
      assert.equal(left.revision, failed.toRevision);
      assert.notEqual(left.revision, failed.fromRevision, 'nothing was applied: not a mid-way failure');
      assert.equal(left.atVenvHead, false, 'the migration did not stop');
      assert.equal(left.airflowVersion, '3.3.0');
      // The step that failed is the last one started, and it did not commit.
      assert.equal(failed.stepsStarted.at(-1)?.from, left.revision);
      assert.equal(left.revision, 'dd5f3a8e2b91');
      // 3.2.2 cannot run on it: its scripts do not know that revision.
      const byOld = await cli.describeRevision(left.revision ?? '', VENV_322);
      assert.deepEqual([byOld.knownToVenv, byOld.airflowVersion], [false, null]);
    },
  );

  void test(
    'a 2.11.2 DB: revision, offline SQL to 3.3.2, and a plain-text XCom that fails the real migration',
    SLOW,
    async () => {
      const db = await newDb('upc_major');
      assertOk(await cli.migrate({ venv: VENV_2112, dbUrl: db.sqlalchemyUrl }), '2.11.2 db migrate');
      const rev = await cli.dbRevision(db.sqlalchemyUrl);
      assert.equal(rev.airflowVersion, '2.10.3', '2.11 added no migration: its schema is 2.10.3 head');
      assert.equal(rev.releaseHeadOf, '2.10.3');

      const before = await fingerprint(db);
      const plan = await cli.migrationSql({ venv: TARGET, dbUrl: db.sqlalchemyUrl });
      assert.deepEqual(await fingerprint(db), before);
      assert.equal(plan.steps[0]?.from, rev.revision);
      assert.equal(plan.steps.at(-1)?.to, target.head);
      assert.ok(plan.statementCount > 100, `only ${plan.statementCount} statements from 2.10.3 to 3.3`);

      await psqlFile(db, path.join(DRILLS, 'upgrade-break-migration-airflow2.sql'));
      const failed = await cli.migrate({ venv: TARGET, dbUrl: db.sqlalchemyUrl });
      assert.equal(failed.ok, false);
      assert.match(failed.error ?? '', /invalid input syntax for type json/);
      assert.match(failed.error ?? '', /ALTER COLUMN value TYPE JSONB/);
      const left = await cli.dbRevision(db.sqlalchemyUrl);
      assert.equal(left.airflowVersion, '3.0.0');
      assert.equal(left.revision, failed.toRevision);
      assert.equal(left.revision, '9fc3fc5de720');
      assert.equal(failed.stepsStarted.at(-1)?.from, left.revision);
    },
  );

  void test(
    'config lint (3.3.2) finds the 2.11.2 fixture config options and nothing in the fixed one',
    SLOW,
    async () => {
      const home = mkdtempSync(path.join(tmpdir(), 'upc-lint-'));
      try {
        copyFileSync(path.join(FIXTURES, 'config-airflow2', 'airflow.cfg'), path.join(home, 'airflow.cfg'));
        const before = readFileSync(path.join(home, 'airflow.cfg'), 'utf8');
        // 2.11.2 reads the fixture's option (it is a real 2.x setting); in a home of its own, as
        // Airflow 2 writes files there.
        const home2 = mkdtempSync(path.join(tmpdir(), 'upc-lint2-'));
        try {
          copyFileSync(
            path.join(FIXTURES, 'config-airflow2', 'airflow.cfg'),
            path.join(home2, 'airflow.cfg'),
          );
          const { stdout } = await run(
            path.join(VENV_2112, 'bin', 'airflow'),
            ['config', 'get-value', 'scheduler', 'dag_dir_list_interval'],
            { env: { PATH: `${VENV_2112}/bin:/usr/bin:/bin`, HOME: home2, AIRFLOW_HOME: home2 } },
          );
          assert.equal(stdout.trim().split('\n').pop(), '120');
        } finally {
          rmSync(home2, { recursive: true, force: true });
        }

        const env = {
          AIRFLOW_HOME: home,
          AIRFLOW__CORE__DAG_CONCURRENCY: '8',
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:
            'postgresql+psycopg2://postgres:lint-secret-pw@127.0.0.1:5432/nothing',
          AWS_SECRET_ACCESS_KEY: 'not-for-the-lint',
        };
        const found = await cli.configLint({ env });
        assert.equal(found.clean, false);
        assert.equal(found.configFile, path.join(home, 'airflow.cfg'));
        const byName = new Map(found.findings.map((f) => [`${f.section}.${f.option}`, f]));
        assert.equal(byName.get('scheduler.dag_dir_list_interval')?.kind, 'renamed');
        assert.deepEqual(byName.get('scheduler.dag_dir_list_interval')?.renamedTo, {
          section: 'dag_processor',
          option: 'refresh_interval',
        });
        assert.equal(byName.get('webserver.web_server_port')?.kind, 'renamed');
        assert.equal(byName.get('core.check_slas')?.kind, 'removed');
        // From the env, not the file: the lint sees the component's variables too.
        assert.deepEqual(byName.get('core.dag_concurrency')?.renamedTo, {
          section: 'core',
          option: 'max_active_tasks_per_dag',
        });
        assert.equal(found.findings.filter((f) => f.kind === 'unrecognised').length, 0);
        assert.doesNotMatch(JSON.stringify(found), /lint-secret-pw/);
        assert.equal(
          readFileSync(path.join(home, 'airflow.cfg'), 'utf8'),
          before,
          'the live airflow.cfg changed',
        );
        assert.deepEqual(
          readdirSync(home),
          ['airflow.cfg'],
          'the target CLI wrote into the live AIRFLOW_HOME',
        );

        copyFileSync(path.join(FIXTURES, 'config-airflow3', 'airflow.cfg'), path.join(home, 'airflow.cfg'));
        const fixed = await cli.configLint({ env: { AIRFLOW_HOME: home } });
        assert.deepEqual(fixed.findings, []);
        assert.equal(fixed.clean, true);
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    },
  );

  void test(
    'ruff AIR3 names the Airflow 2 fixture DAG breakages (file:line, rule) and nothing in the fixed DAG',
    SLOW,
    async () => {
      const broken = await cli.ruffAirflow3({ dagsFolder: path.join(FIXTURES, 'dags-airflow2') });
      const lines = readFileSync(path.join(FIXTURES, 'dags-airflow2', 'nightly_report.py'), 'utf8').split(
        '\n',
      );
      const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
      const got = broken.findings.filter((f) => f.breaking).map((f) => `${f.file}:${f.line} ${f.rule}`);
      assert.deepEqual(got, [
        `nightly_report.py:${lineOf('schedule_interval=')} AIR301`,
        `nightly_report.py:${lineOf('DummyOperator(task_id')} AIR302`,
        `nightly_report.py:${lineOf('PythonOperator(task_id')} AIR302`,
      ]);
      assert.match(broken.ruffVersion, /^\d+\.\d+/);
      const fixed = await cli.ruffAirflow3({ dagsFolder: path.join(FIXTURES, 'dags-airflow3') });
      assert.deepEqual(fixed.findings, []);

      // What ruff says is what Airflow does: the old DAG imports on 2.11.2 and not on 3.3.2.
      const load = async (venv: string, dir: string) => {
        const home = mkdtempSync(path.join(tmpdir(), 'upc-dag-'));
        try {
          const file = path.join(FIXTURES, dir, 'nightly_report.py');
          await run(
            path.join(venv, 'bin', 'python'),
            ['-c', 'import runpy, sys; runpy.run_path(sys.argv[1])', file],
            {
              env: { PATH: `${venv}/bin:/usr/bin:/bin`, HOME: home, AIRFLOW_HOME: home },
            },
          );
        } finally {
          rmSync(home, { recursive: true, force: true });
        }
      };
      await load(VENV_2112, 'dags-airflow2');
      await load(TARGET, 'dags-airflow3');
      await assert.rejects(load(TARGET, 'dags-airflow2'), /No module named 'airflow\.operators\.dummy'/);
    },
  );

  void test(
    'inventory probe in the 3.2.2 and 2.11.2 venvs: versions, providers, option names without values',
    SLOW,
    async () => {
      const home = mkdtempSync(path.join(tmpdir(), 'upc-inv-'));
      copyFileSync(path.join(FIXTURES, 'config-airflow2', 'airflow.cfg'), path.join(home, 'airflow.cfg'));
      try {
        for (const [venv, version] of [
          [VENV_322, '3.2.2'],
          [VENV_2112, '2.11.2'],
        ] as const) {
          const env = {
            PATH: `${venv}/bin:/usr/bin:/bin`,
            HOME: home,
            AIRFLOW_HOME: home,
            AIRFLOW__CORE__DAGS_FOLDER: path.join(FIXTURES, 'dags-airflow2'),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:
              'postgresql+psycopg2://postgres:probe-secret-pw@127.0.0.1:5432/nothing',
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
          };
          const probe = new UpgradeInventoryProbe(new LocalExecPort({ envFor: () => env }), {
            python: () => [path.join(venv, 'bin', 'python')],
          });
          const component: Component = { name: 'scheduler' };
          const inv = await probe.inventory(component);
          assert.equal(inv.airflowVersion, version);
          const py = await run(path.join(venv, 'bin', 'python'), ['--version']);
          assert.equal(`Python ${inv.python.version}`, py.stdout.trim());
          assert.equal(inv.dagsFolder, env.AIRFLOW__CORE__DAGS_FOLDER);
          assert.deepEqual(inv.configFile, { path: path.join(home, 'airflow.cfg'), existed: true });

          // Providers: the dist-info folders of the venv's site-packages, independently.
          const site = path.join(venv, 'lib', 'python3.11', 'site-packages');
          const expected = readdirSync(site)
            .map((d) => /^apache_airflow_providers_(.+)-([^-]+)\.dist-info$/.exec(d))
            .filter((m): m is RegExpExecArray => m !== null)
            .map((m) => `apache-airflow-providers-${(m[1] ?? '').replace(/_/g, '-')}==${m[2]}`)
            .sort();
          assert.deepEqual(inv.providers.map((p) => `${p.name}==${p.version}`).sort(), expected);
          const sql = inv.providers.find((p) => p.name === 'apache-airflow-providers-common-sql');
          assert.ok(
            sql &&
              sql.airflowRequirements.length === 1 &&
              /^apache-airflow>=/.test(sql.airflowRequirements[0] ?? ''),
          );

          const names = inv.configOptions.map((o) => `${o.section}.${o.option}:${o.sources.join('+')}`);
          for (const n of [
            'scheduler.dag_dir_list_interval:airflow.cfg',
            'webserver.web_server_port:airflow.cfg',
            'core.dags_folder:env',
            'database.sql_alchemy_conn:env',
          ]) {
            assert.ok(names.includes(n), `${n} missing in ${names.join(', ')}`);
          }
          const json = JSON.stringify(inv);
          assert.doesNotMatch(json, /probe-secret-pw|8081/, 'a config value left the component');
        }
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    },
  );

  void test(
    'provider compatibility: the 2.11.2 providers against 3.3.2 and its constraints, plus a made-up incompatibility',
    SLOW,
    async () => {
      const env = { PATH: `${VENV_2112}/bin:/usr/bin:/bin`, HOME: tmpdir() };
      const probe = new UpgradeInventoryProbe(new LocalExecPort({ envFor: () => env }), {
        python: () => [path.join(VENV_2112, 'bin', 'python')],
      });
      const inv = await probe.inventory({ name: 'scheduler' });
      const installed = [
        ...inv.providers,
        {
          name: 'apache-airflow-providers-legacy-thing',
          version: '1.0.0',
          airflowRequirements: ['apache-airflow<3.0.0,>=2.9.0'],
        },
      ];
      // The target's constraints: the default venv's pins, with common-sql moved on by one release.
      const constraints = readFileSync(path.join(ROOT, 'python', 'constraints.txt'), 'utf8').replace(
        /^apache-airflow-providers-common-sql==.*$/m,
        'apache-airflow-providers-common-sql==2.5.0',
      );
      const result = await cli.providerCompatibility({
        installed,
        targetVersion: target.version,
        targetConstraints: constraints,
      });
      const of = (provider: string, kind: string) =>
        result.findings.find((f) => f.provider === provider && f.kind === kind);

      const excluded = of('apache-airflow-providers-legacy-thing', 'requires-airflow-excludes-target');
      assert.ok(excluded?.blocking, JSON.stringify(result.findings, null, 1));
      assert.match(excluded.detail, /excludes Airflow 3\.3\.2/);
      const moved = of('apache-airflow-providers-common-sql', 'constraint-differs');
      assert.deepEqual([moved?.from, moved?.to, moved?.blocking], ['2.4.0', '2.5.0', false]);
      // Real: the 2.11.2 venv has FAB 1.x, which the 3.3.2 venv lacks and its pins do not name.
      assert.ok(of('apache-airflow-providers-fab', 'missing-in-target-venv')?.blocking);
      assert.ok(of('apache-airflow-providers-fab', 'not-in-target-constraints'));
      // Providers the 3.3.2 venv has at the same version raise nothing.
      assert.equal(
        result.findings.filter((f) => f.provider === 'apache-airflow-providers-common-io').length,
        0,
      );
      assert.ok(result.constraintsPinned > 100);

      await assert.rejects(
        cli.providerCompatibility({ installed, targetVersion: 'banana', targetConstraints: '' }),
        (e: Error) => e instanceof PermanentFault && /^targetVersion:/.test(e.message),
      );
    },
  );

  void test('bad input names its field; a DB URL password never appears in an error', SLOW, async () => {
    const refused = (field: string) => (e: Error) =>
      e instanceof PermanentFault && e.message.startsWith(`${field}:`);
    await assert.rejects(
      cli.migrate({ venv: '/nonexistent/venv', dbUrl: minor.sqlalchemyUrl }),
      refused('venv'),
    );
    await assert.rejects(cli.migrate({ venv: TARGET, dbUrl: 'not a url' }), refused('dbUrl'));
    await assert.rejects(
      cli.downgrade({ venv: TARGET, dbUrl: minor.sqlalchemyUrl, toVersion: 'latest' }),
      refused('toVersion'),
    );
    await assert.rejects(
      cli.ruffAirflow3({ dagsFolder: path.join(FIXTURES, 'no-such-folder') }),
      refused('dagsFolder'),
    );
    await assert.rejects(cli.configLint({ targetVenv: '/nonexistent/venv', env: {} }), refused('targetVenv'));

    const secretUrl = `postgresql+psycopg2://postgres:Sup3r-S3cret-pw@127.0.0.1:5432/${minor.name}_absent`;
    await assert.rejects(cli.dbRevision(secretUrl), (e: Error) => {
      assert.match(e.message, /does not exist/);
      assert.doesNotMatch(e.message, /Sup3r-S3cret-pw/);
      return true;
    });
  });
});

void describe('upgrade output parsers on shapes the real runs do not show', () => {
  void test('a lint message wrapped at 200 columns is joined back; an unknown one is kept as unrecognised', () => {
    const out = [
      'Found issues in your airflow.cfg:',
      '  - Removed deprecated `check_slas` configuration parameter from `core` section. The SLA feature is',
      'removed in Airflow 3.0',
      '  - Something new the parser has never seen.',
      '',
      'Please update your configuration file accordingly.',
    ].join('\n');
    const parsed = parseConfigLint(out);
    assert.equal(parsed.findings.length, 2);
    assert.equal(parsed.findings[0]?.message.endsWith('The SLA feature is removed in Airflow 3.0'), true);
    assert.deepEqual(
      parsed.findings.map((f) => [f.kind, f.section, f.option]),
      [
        ['removed', 'core', 'check_slas'],
        ['unrecognised', null, null],
      ],
    );
  });

  void test('a failed statement is quoted without its bound parameters (they may hold table data)', () => {
    const err = extractCliError(
      [
        'Traceback (most recent call last):',
        'sqlalchemy.exc.IntegrityError: (psycopg2.errors.UniqueViolation) duplicate key value',
        'DETAIL:  Key (conn_id)=(x) already exists.',
        '[SQL: INSERT INTO connection (conn_id, password) VALUES (%(conn_id)s, %(password)s)]',
        "[parameters: {'conn_id': 'x', 'password': 'hunter2'}]",
        '(Background on this error at: https://sqlalche.me/e/21/gkpj)',
      ].join('\n'),
    );
    assert.match(err, /^sqlalchemy\.exc\.IntegrityError: .*UniqueViolation/);
    assert.match(err, /DETAIL: {2}Key/);
    assert.doesNotMatch(err, /hunter2/);
  });

  void test('show-sql-only output with nothing to do has no statements', () => {
    const parsed = parseMigrationSql(
      '2026-01-01T00:00:00.000000Z [info     ] Generating sql\nNo migrations to apply; nothing to do.\n',
    );
    assert.deepEqual(parsed, { sql: '', statementCount: 0, steps: [], manualSteps: [], nothingToDo: true });
  });
});
