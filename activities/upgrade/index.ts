/**
 * The upgrade's own activities over injected adapters, prefixed `upgrade.` so they never collide
 * with another runbook's. The env-file switch and its revert are the shared change activities.
 *
 * Databases are named here, never addressed: the adapters bind names to the plan's server, so no
 * URL (and no password) enters an activity's input or result.
 */
import { constants, readFileSync } from 'node:fs';
import { access, readdir, readFile, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Context, heartbeat } from '@temporalio/activity';
import type { CheckRow } from '../../domain/engine/evidence.js';
import { durationMs } from '../../domain/duration.js';
import { formatBytes, formatCount } from '../../domain/figures.js';
import { UPGRADE_ACTIVITY_PREFIX } from '../../domain/upgrade/kind.js';
import type { UpgradePlan } from '../../domain/upgrade/plan.js';
import {
  HISTORY_TABLES,
  sameHistory,
  type BackupRecord,
  type ComponentInventory,
  type ComponentsStarted,
  type DrainRecord,
  type MigrationRecord,
  type ProviderFinding,
  type ProviderInstalled,
  type RestoreRecord,
  type Retriggered,
  type RunsSinceSwitch,
  type ScheduleCheck,
  type UpgradePreflight,
  type UpgradeRehearsal,
  type UpgradeRunRecord,
  type UpgradeValidation,
  type VersionsRecord,
} from '../../domain/upgrade/run.js';
import { compareReleases, isMajorUpgrade } from '../../domain/upgrade/version.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import type { HelmValuesPort, UpgradeDatabasePort } from '../upgrade-ports.js';
import { PermanentFault } from '../engine/errors.js';
import { gate, timed } from '../engine/timing.js';
import { dumpFileName, planAtRelease, rehearsalDatabase, cloneDatabaseName } from './names.js';
import { chooseRestoreMethod } from './restore-method.js';
import { locationUnder } from '../../domain/helm-values.js';
import { inEachComponent } from '../engine/each-component.js';

type Prefixed<T> = { [K in keyof T & string as `upgrade.${K}`]: T[K] };

function prefixed<T extends object>(activities: T): Prefixed<T> {
  return Object.fromEntries(
    Object.entries(activities).map(([k, v]) => [`${UPGRADE_ACTIVITY_PREFIX}${k}`, v]),
  ) as Prefixed<T>;
}

/** The SQL an approver reads is kept whole up to this size; the rest is on the worker's screen. */
const SQL_KEPT_BYTES = 32 * 1024;
const LARGEST_TABLES = 5;

/**
 * The drill's SQL ships with cutover (dist/activities/upgrade -> the repository root), one file per
 * major release upgraded from: what breaks the migration differs (drills/*.sql say what and why).
 */
const breakMigrationSql = (from: string) =>
  path.join(
    path.dirname(new URL(import.meta.url).pathname),
    '..',
    '..',
    '..',
    'drills',
    `upgrade-break-migration-airflow${from.split('.')[0] ?? ''}.sql`,
  );

export function upgradeActivities(adapters: Adapters) {
  const db = (plan: UpgradePlan, needs: string) => requireAdapter(adapters, 'upgradeDb', plan, needs);
  const releases = (plan: UpgradePlan, needs: string) =>
    requireAdapter(adapters, 'airflowReleases', plan, needs);
  const power = (plan: UpgradePlan, needs: string) => requireAdapter(adapters, 'componentPower', plan, needs);
  const inventory = (plan: UpgradePlan, needs: string) =>
    requireAdapter(adapters, 'upgradeInventory', plan, needs);
  /** The REST API of the release running now (Airflow 2's /api/v1, Airflow 3's /api/v2). */
  const api = (plan: UpgradePlan, version: string, needs: string) =>
    requireAdapter(adapters, 'upgradeDagRuns', planAtRelease(plan, version), needs);
  const components = (plan: UpgradePlan) => plan.target.components.map((c) => c.name);
  const helmValues = (plan: UpgradePlan, needs: string) =>
    requireAdapter(adapters, 'helmValues', plan, needs);
  const migrationJob = (plan: UpgradePlan, needs: string) =>
    requireAdapter(adapters, 'migrationJob', plan, needs);

  async function inventories(plan: UpgradePlan, needs: string): Promise<ComponentInventory[]> {
    const port = inventory(plan, needs);
    return inEachComponent(components(plan), async (component): Promise<ComponentInventory> => {
      try {
        return await port.inventory(component);
      } catch (err) {
        return {
          component,
          airflowVersion: null,
          python: null,
          providers: [],
          dagsFolder: null,
          error: err instanceof Error ? err.message : String(err),
        };
      }
    });
  }

  function versionRows(found: ComponentInventory[], expected: string): string[] {
    return found
      .filter((c) => c.error || c.airflowVersion !== expected)
      .map((c) =>
        c.error
          ? `${c.component}: cannot read its version (${c.error})`
          : `${c.component} runs Airflow ${c.airflowVersion}, expected ${expected}`,
      );
  }

  return prefixed({
    /** Read-only: versions in every component, the target install, providers, the SQL, DB size, Airflow 3 lint. */
    async preflight({ plan }: { plan: UpgradePlan }): Promise<UpgradePreflight> {
      const from = plan.airflow.version;
      const to = plan.spec.upgrade.toVersion;
      const major = isMajorUpgrade(from, to);
      const rel = releases(plan, 'read the releases installed for the target');
      const database = db(plan, 'read the metadata DB');
      return timed(async () => {
        const checks: CheckRow[] = [];
        let mark = Date.now();
        // Each row carries the time since the previous one: what its own reads took.
        const row = (name: string, bad: string[], ok: string, amber: string[] = []) => {
          const now = Date.now();
          const durationMs = now - mark;
          mark = now;
          checks.push(
            bad.length > 0
              ? { name, status: 'red', detail: bad.join('; '), durationMs }
              : amber.length > 0
                ? { name, status: 'amber', detail: amber.join('; '), durationMs }
                : { name, status: 'green', detail: ok, durationMs },
          );
        };

        const found = await inventories(plan, 'read each component’s version');
        row('running release', versionRows(found, from), `every component runs Airflow ${from}`);

        const targetInstall = rel.installed(to);
        row(
          'target release installed',
          targetInstall
            ? []
            : [`Airflow ${to} is not installed for this target (scripts/setup.sh --upgrade-venvs)`],
          `Airflow ${to} at ${targetInstall ?? ''}`,
        );

        const revision = await database.revision();
        const revisionVersion = targetInstall ? await rel.versionOfRevision(to, revision) : null;
        // A release without migrations of its own leaves the DB at an earlier release's head (3.2.2's
        // DB is at 3.2.0's), so the running release's own CLI judges whether the schema is its own.
        const atFromHead = rel.installed(from) ? await rel.checkMigrations(from, database.database) : null;
        row(
          'schema revision',
          atFromHead === false
            ? [
                `the metadata DB is at ${revision}, which is not Airflow ${from}'s head: migrate or repair it before upgrading`,
              ]
            : atFromHead === null && revisionVersion !== null && compareReleases(revisionVersion, from) > 0
              ? [`the metadata DB is at ${revision} (Airflow ${revisionVersion}), newer than ${from}`]
              : [],
          `at ${revision} (${revisionVersion ? `Airflow ${revisionVersion}'s migrations` : 'revision'}${atFromHead ? `, Airflow ${from}'s head` : ''})`,
          revisionVersion === null ? [`revision ${revision} is not in ${to}'s migration map`] : [],
        );

        let migrationSql: UpgradePreflight['migrationSql'] = null;
        const sqlProblems: string[] = [];
        if (targetInstall) {
          try {
            const sql = await rel.migrationSql(to, database.database);
            const bytes = Buffer.byteLength(sql.sql);
            migrationSql = {
              fromRevision: sql.fromRevision,
              statements: sql.statements,
              bytes,
              text:
                bytes > SQL_KEPT_BYTES
                  ? Buffer.from(sql.sql).subarray(0, SQL_KEPT_BYTES).toString()
                  : sql.sql,
              truncated: bytes > SQL_KEPT_BYTES,
            };
          } catch (err) {
            sqlProblems.push(`airflow db migrate --show-sql-only failed: ${message(err)}`);
          }
        }
        row(
          'migration SQL',
          sqlProblems,
          migrationSql
            ? `${migrationSql.statements} statement(s), ${formatBytes(migrationSql.bytes)} from ${migrationSql.fromRevision}`
            : 'not rendered',
        );

        const sizeBytes = await database.sizeBytes();
        const largestTables = await database.largestTables(LARGEST_TABLES);
        row(
          'metadata DB size',
          [],
          `${formatBytes(sizeBytes)}; largest ${largestTables.map((t) => `${t.table} ${formatCount(t.rows)} rows`).join(', ')}`,
        );

        const where = await backupDestination(plan, sizeBytes);
        row('backup destination', where.red, where.ok, where.amber);

        if (plan.change.mode === 'gitops' && plan.target.kind === 'kubernetes') {
          const chart = await chartValues(
            helmValues(plan, 'read the Helm values'),
            plan.change.location,
            from,
          );
          row('migrateDatabaseJob', chart.red, chart.ok);
        }

        const installed = uniqueProviders(found);
        const dagsFolder = found.find((c) => c.dagsFolder)?.dagsFolder ?? null;
        const providers = targetInstall
          ? major
            ? await notBundledInNewMajor(
                await rel.providerFindings(to, installed),
                rel.bundledProviders(from),
                dagsFolder,
              )
            : await rel.providerFindings(to, installed)
          : [];
        row(
          'providers',
          providers.filter((p) => p.blocking).map((p) => `${p.name} ${p.installed}: ${p.problem}`),
          `${installed.length} provider(s), each runs on Airflow ${to}`,
          providers.filter((p) => !p.blocking).map((p) => `${p.name}: ${p.problem}`),
        );

        const configLint =
          major && targetInstall ? await rel.configLint(to, components(plan)[0] ?? 'scheduler') : [];
        const dagFindings = major && dagsFolder ? await rel.airflow3DagFindings(to, dagsFolder) : [];
        if (major) {
          row(
            'config for Airflow 3',
            configLint.map((f) => `[${f.section}] ${f.option}: ${f.message}`),
            'airflow config lint finds nothing',
          );
          row(
            'DAGs for Airflow 3',
            dagsFolder
              ? dagFindings.filter((f) => f.breaking).map((f) => `${f.file}:${f.line} ${f.rule} ${f.message}`)
              : ['no component reported its DAG folder'],
            `ruff's AIR3 rules find nothing that breaks in ${dagsFolder ?? ''}`,
            dagFindings.filter((f) => !f.breaking).map((f) => `${f.file}:${f.line} ${f.rule} ${f.message}`),
          );
        }
        return {
          from,
          to,
          major,
          components: found,
          targetInstall,
          dbRevision: { revision, version: revisionVersion },
          migrationSql,
          db: { sizeBytes, largestTables },
          providers,
          configLint,
          dagFindings,
          checks,
          gate: gate(checks.filter((c) => c.status === 'red').map((c) => `${c.name}: ${c.detail}`)),
        };
      });
    },

    /** The migration on a copy of the live DB (same server), timed; the copy is dropped after. */
    async rehearse({ plan }: { plan: UpgradePlan }): Promise<UpgradeRehearsal> {
      const database = db(plan, 'copy the metadata DB for the rehearsal');
      const rel = releases(plan, 'rehearse the migration');
      const name = rehearsalDatabase(plan, database.database);
      const to = plan.spec.upgrade.toVersion;
      return timed(async () => {
        const reasons: string[] = [];
        const copy = await database.copyTo(name, heartbeat);
        const before = await database.rowCounts(HISTORY_TABLES, name);
        let migrated: Awaited<ReturnType<typeof rel.migrate>> | null = null;
        let current = false;
        try {
          migrated = await rel.migrate(to, name, heartbeat);
          current = await rel.checkMigrations(to, name);
          if (!current)
            reasons.push(`airflow db check-migrations: ${name} is not at ${to}'s head after migrating`);
        } catch (err) {
          reasons.push(`the migration failed on the copy: ${message(err)}`);
        }
        const after = migrated ? await database.rowCounts(HISTORY_TABLES, name) : before;
        const rowCounts = before.map((b) => ({
          table: b.table,
          before: b.rows,
          after: after.find((a) => a.table === b.table)?.rows ?? 0,
        }));
        for (const r of rowCounts)
          if (r.after !== r.before) reasons.push(`${r.table}: ${r.before} rows before, ${r.after} after`);
        const max = plan.spec.rehearsal.maxMigrationTime;
        if (migrated && max !== undefined && migrated.durationMs > durationMs(max))
          reasons.push(
            `the migration took ${Math.round(migrated.durationMs / 1000)} s, over rehearsal.maxMigrationTime ${String(max)}`,
          );
        const dropped = await database.dropDatabase(name);
        return {
          database: name,
          copyMs: copy.durationMs,
          migrateMs: migrated?.durationMs ?? 0,
          fromRevision: migrated?.fromRevision ?? '',
          toRevision: migrated?.toRevision ?? '',
          migrationsCurrent: current,
          rowCounts,
          dropped,
          gate: gate(reasons),
        };
      });
    },

    /** The backup the rollback restores: a verified dump, or (components stopped) a clone. */
    async backup({ plan, changeId }: { plan: UpgradePlan; changeId: string }): Promise<BackupRecord> {
      const database = db(plan, 'back up the metadata DB');
      const backup = plan.spec.backup;
      return timed(async () => {
        const { rowCounts, checksums } = await historyOf(database);
        if (backup.strategy === 'pg-dump') {
          const dump = await database.dump(
            backup.to,
            dumpFileName(plan, database.database, changeId),
            heartbeat,
          );
          return {
            strategy: 'pg-dump' as const,
            location: dump.location,
            bytes: dump.bytes,
            sha256: dump.sha256,
            tocEntries: dump.tocEntries,
            durationMs: dump.durationMs,
            rowCounts,
            checksums,
          };
        }
        const name = cloneDatabaseName(plan, database.database);
        // A clone left by an earlier attempt or run is replaced: the backup is of the DB as it is now.
        const made = await database.clone(name);
        return {
          cloneOid: made.oid,
          strategy: 'clone' as const,
          location: name,
          bytes: await database.sizeBytes(name),
          sha256: null,
          tocEntries: null,
          durationMs: made.durationMs,
          rowCounts,
          checksums,
        };
      });
    },

    /** The scheduler and every other component stopped: the downtime starts. */
    async drain({ plan }: { plan: UpgradePlan }): Promise<DrainRecord> {
      const database = db(plan, 'read the DAG schedule');
      const p = power(plan, 'stop the Airflow components');
      return timed(async () => {
        const schedule = await database.dueDags();
        const { stoppedAt } = await p.stop({ components: components(plan), heartbeat });
        return { stoppedAt, components: components(plan), schedule };
      });
    },

    /** The row counts and checksums of the history tables now (components stopped: a still DB). */
    async measureHistory({ plan }: { plan: UpgradePlan }) {
      const database = db(plan, 'count the history tables');
      return timed(() => historyOf(database));
    },

    /** Drill: what the new release's migration cannot take (drills/upgrade-break-migration-*.sql), put in after the backup. */
    async injectMigrationFault({ plan }: { plan: UpgradePlan }) {
      const database = db(plan, 'inject the drill');
      const file = breakMigrationSql(plan.airflow.version);
      return timed(async () => {
        let sql: string;
        try {
          sql = readFileSync(file, 'utf8');
        } catch {
          throw new PermanentFault(
            `no break-migration drill for an upgrade from Airflow ${plan.airflow.version} (${file})`,
          );
        }
        await database.execute(sql);
        return { injected: path.basename(file) };
      });
    },

    /**
     * The new release's `airflow db migrate` on the live DB, run once. A retry comes after the worker
     * running an earlier attempt died (heartbeat timeout); that attempt's `airflow db migrate` runs
     * in its own process group and survives it, an orphan still migrating. A second `db migrate`
     * beside it would not wait: Airflow takes its migration lock with a 1.8 s lock_timeout and fails
     * (docs/upgrade-facts.md). So a retry first waits while any session holds that lock, then asks
     * `db check-migrations`: at head, the earlier attempt did it and nothing runs again; else the
     * migration goes on from the last revision that committed (alembic applies each step once).
     */
    async migrate({ plan }: { plan: UpgradePlan }): Promise<MigrationRecord> {
      const rel = releases(plan, 'migrate the metadata DB');
      const database = db(plan, 'migrate the metadata DB');
      const to = plan.spec.upgrade.toVersion;
      const n = attempt();
      return timed(async () => {
        let foundOfEarlier: string | null = null;
        if (n > 1) {
          const waited = await waitMigrationLock(database);
          foundOfEarlier = waited
            ? `attempt ${n - 1}'s migration was still running (PostgreSQL backend ${waited.pid}, since ${waited.backendStart}): waited ${(waited.waitedMs / 1000).toFixed(1)} s for it`
            : `no migration running`;
          if (await rel.checkMigrations(to, database.database)) {
            const at = await database.revision();
            return {
              fromRevision: at,
              toRevision: at,
              durationMs: 0,
              outputTail: `already at Airflow ${to}'s head: an earlier attempt migrated it`,
              attempt: n,
              ranHere: false,
              foundOfEarlier: `${foundOfEarlier}; the schema is at Airflow ${to}'s head`,
            };
          }
        }
        try {
          const done = await rel.migrate(to, database.database, heartbeat);
          return { ...done, attempt: n, ranHere: true, foundOfEarlier };
        } catch (err) {
          // Someone else's migration took the lock first (ours gave up after Airflow's lock_timeout):
          // what it leaves decides, as on a retry.
          const waited = await waitMigrationLock(database);
          if (waited && (await rel.checkMigrations(to, database.database))) {
            const at = await database.revision();
            return {
              fromRevision: at,
              toRevision: at,
              durationMs: 0,
              outputTail: `another migration (backend ${waited.pid}) brought the DB to Airflow ${to}'s head`,
              attempt: n,
              ranHere: false,
              foundOfEarlier: `a concurrent migration held Airflow's lock; waited ${(waited.waitedMs / 1000).toFixed(1)} s`,
            };
          }
          // A half-migrated schema is not retried blindly: the rollback restores it.
          throw new PermanentFault(`airflow db migrate (${to}) failed: ${message(err)}`);
        }
      });
    },

    /**
     * Kubernetes: the chart's migration Job that the GitOps tool made for the new image, waited for
     * until it completes (the record) or fails (a PermanentFault: the rollback restores the DB).
     * Cutover never runs it, so a retry waits for the same Job: it migrates once.
     */
    async awaitMigrationJob({
      plan,
      fromRevision,
    }: {
      plan: UpgradePlan;
      fromRevision: string;
    }): Promise<MigrationRecord> {
      const jobs = migrationJob(plan, 'wait for the chart migration Job');
      const database = db(plan, 'read the schema revision');
      const to = plan.spec.upgrade.toVersion;
      const timeoutMs =
        durationMs(plan.rollout.timeout) + durationMs(plan.spec.rehearsal.maxMigrationTime ?? '2h');
      return timed(async () => {
        const run = await jobs.awaitFor({ release: to, timeoutMs, heartbeat });
        const took =
          run.startedAt && run.finishedAt ? Date.parse(run.finishedAt) - Date.parse(run.startedAt) : 0;
        if (!run.succeeded)
          throw new PermanentFault(
            `the chart's migration Job ${run.job} (${run.image}) failed: ${run.reason}`,
          );
        return {
          fromRevision,
          toRevision: await database.revision(),
          durationMs: took,
          outputTail: `Job ${run.job} (${run.image}) complete`,
        };
      });
    },

    /** Starts every component on the release the env file names, and waits until all are healthy. */
    async start({ plan, version }: { plan: UpgradePlan; version: string }): Promise<ComponentsStarted> {
      const p = power(plan, 'start the Airflow components');
      return timed(async () => {
        const started = await p.start({
          components: components(plan),
          timeoutMs: durationMs(plan.rollout.timeout),
          heartbeat,
        });
        return { version, ...started };
      });
    },

    /** The release every component runs, read inside each, and the schema at that release's head. */
    async verifyVersions({ plan, version }: { plan: UpgradePlan; version: string }): Promise<VersionsRecord> {
      const rel = releases(plan, 'check the migrations');
      const database = db(plan, 'check the migrations');
      return timed(async () => {
        const found = await inventories(plan, 'read each component’s version');
        const reasons = versionRows(found, version);
        const migrationsCurrent = await rel.checkMigrations(version, database.database);
        if (!migrationsCurrent) reasons.push(`the metadata DB is not at Airflow ${version}'s head revision`);
        return {
          expected: version,
          components: found.map((c) => ({
            component: c.component,
            airflowVersion: c.airflowVersion,
            error: c.error,
          })),
          migrationsCurrent,
          gate: gate(reasons),
        };
      });
    },

    /**
     * The critical DAGs first, `concurrency` at a time (never a bulk clear), then the validation DAG,
     * then every DAG that fell due while Airflow was down must get its run from the scheduler.
     */
    async validate({
      plan,
      runPrefix,
      due,
      failOnPurpose,
    }: {
      plan: UpgradePlan;
      runPrefix: string;
      due: ScheduleCheck[];
      failOnPurpose?: boolean;
    }): Promise<UpgradeValidation> {
      const to = plan.spec.upgrade.toVersion;
      const dagRuns = api(plan, to, 'run the critical and validation DAGs');
      const database = db(plan, 'check the schedule');
      const v = plan.spec.validation;
      const timeoutMs = durationMs(v.timeout);
      return timed(async () => {
        const runs: UpgradeRunRecord[] = [];
        const runOne = async (dagId: string, critical: boolean, conf: Record<string, unknown>) => {
          const t0 = Date.now();
          const runId = `${runPrefix}__${critical ? 'critical' : 'validation'}__${dagId}`;
          const r = await dagRuns.runValidationDag({
            dagId,
            runId,
            unpause: v.unpause,
            timeoutMs,
            heartbeat,
            conf,
          });
          runs.push({ dagId, runId, state: r.state, critical, durationMs: Date.now() - t0 });
        };
        const queue = [...v.criticalDags];
        while (queue.length > 0) {
          const batch = queue.splice(0, v.concurrency);
          await Promise.all(batch.map((dagId) => runOne(dagId, true, {})));
        }
        await runOne(v.dagId, false, failOnPurpose ? { fail: true } : {});

        const schedule = await waitScheduled(due, durationMs(v.scheduleGrace), (ids) =>
          database.nextDue(ids),
        );
        const reasons = [
          ...runs.filter((r) => r.state !== 'success').map((r) => `${r.dagId}/${r.runId} ended ${r.state}`),
          ...schedule
            .filter((s) => !s.scheduled)
            .map(
              (s) =>
                `${s.dagId} was due at ${s.dueAt} and has not been scheduled within ${String(v.scheduleGrace)}`,
            ),
        ];
        return { runs, schedule, gate: gate(reasons) };
      });
    },

    /** The DAG runs since the switch, with what re-running each needs, read before the rollback stops Airflow. */
    async runsSinceSwitch({
      plan,
      since,
      version,
    }: {
      plan: UpgradePlan;
      since: string;
      version: string;
    }): Promise<RunsSinceSwitch> {
      const dagRuns = api(plan, version, 'read the DAG runs since the switch');
      return timed(async () => ({ since, runs: await dagRuns.runsSinceWithConf({ since }) }));
    },

    /** The metadata DB back as before the migration: the backup, or a downgrade that keeps new runs. */
    async restore({
      plan,
      backup,
      runs,
      migrated,
    }: {
      plan: UpgradePlan;
      backup: BackupRecord | null;
      runs: RunsSinceSwitch | null;
      migrated: boolean;
    }): Promise<RestoreRecord> {
      const database = db(plan, 'restore the metadata DB');
      const rel = releases(plan, 'downgrade the metadata DB');
      const p = power(plan, 'stop the Airflow components');
      return timed(async () => {
        const choice = chooseRestoreMethod(plan.spec.rollback.method, backup, runs, migrated);
        await p.stop({ components: components(plan), heartbeat });
        // A retry after a worker died mid-step: a restore that finished is not done again; one that
        // died in pg_restore left a staging DB (maybe still written by the orphaned pg_restore),
        // which the restore drops with its sessions before restoring into a new one.
        const n = attempt();
        const restoredAlready =
          n > 1 &&
          choice.method === 'restore' &&
          backup !== null &&
          sameHistory(await database.tableChecksums(HISTORY_TABLES), backup.checksums) &&
          (await rel.checkMigrations(plan.airflow.version, database.database));
        let foundOfEarlier: string | null = restoredAlready
          ? `attempt ${n - 1} had restored the backup: the history checksums equal it and the schema is Airflow ${plan.airflow.version}'s`
          : null;
        const bringBack = async (): Promise<{ durationMs: number }> => {
          if (restoredAlready) return { durationMs: 0 };
          if (choice.method === 'downgrade')
            return rel.downgrade(
              plan.spec.upgrade.toVersion,
              plan.airflow.version,
              database.database,
              heartbeat,
            );
          if (backup?.strategy === 'pg-dump' && backup.sha256) {
            const r = await database.restoreDump(backup.location, backup.sha256, heartbeat);
            if (r.resumed)
              foundOfEarlier = `attempt ${n - 1} had restored the backup into a staging DB: only the swap was left`;
            if (r.leftoversDropped.length > 0)
              foundOfEarlier = `${foundOfEarlier ? `${foundOfEarlier}; ` : ''}dropped ${r.leftoversDropped.length} staging DB(s) of earlier attempts (${r.leftoversDropped.join(', ')}), their sessions terminated`;
            return r;
          }
          if (backup?.strategy === 'clone') return database.restoreClone(backup.location, backup.cloneOid);
          throw new PermanentFault('no backup to restore from, and the plan does not allow a downgrade');
        };
        const took = (await bringBack()).durationMs;
        const rowCounts = await database.rowCounts(HISTORY_TABLES);
        const checksumsMatch =
          choice.method === 'restore' && backup
            ? sameHistory(await database.tableChecksums(HISTORY_TABLES), backup.checksums)
            : null;
        if (checksumsMatch === false)
          throw new PermanentFault(
            'the restored metadata DB differs from the backup taken before the upgrade (history table checksums)',
          );
        return {
          method: choice.method,
          reason: choice.reason,
          durationMs: took,
          rowCounts,
          checksumsMatch,
          attempt: n,
          foundOfEarlier,
        };
      });
    },

    /**
     * The runs made on the new release, on the old one again: cleared and re-run when the DB kept them
     * (downgrade), triggered again with the same run id, logical date and conf when the restore lost them.
     */
    async rerunOnOldRelease({
      plan,
      runs,
      method,
    }: {
      plan: UpgradePlan;
      runs: RunsSinceSwitch['runs'];
      method: 'restore' | 'downgrade';
    }): Promise<Retriggered> {
      const dagRuns = api(plan, plan.airflow.version, 'run the DAG runs again on the old release');
      const timeoutMs = durationMs(plan.spec.validation.timeout);
      return timed(async () => {
        // A restored `dag` table holds the DAGs as they were before the upgrade: one VALIDATE unpaused
        // on the new release may be paused again, and its run would never start.
        if (plan.spec.validation.unpause)
          for (const dagId of new Set(runs.map((r) => r.dagId))) await dagRuns.unpause(dagId);
        const out: Retriggered['runs'] = [];
        for (const r of runs) {
          const finalState =
            method === 'downgrade'
              ? ((await dagRuns.clearAndWait({ runs: [r], timeoutMs, heartbeat }))[0]?.finalState ??
                'unknown')
              : await dagRuns.retrigger({
                  dagId: r.dagId,
                  runId: r.runId,
                  logicalDate: r.logicalDate,
                  conf: r.conf,
                  timeoutMs,
                  heartbeat,
                });
          out.push({
            dagId: r.dagId,
            runId: r.runId,
            how: method === 'downgrade' ? 'rerun' : 'retrigger',
            finalState,
          });
        }
        return { runs: out };
      });
    },
  });
}

export type UpgradeActivities = ReturnType<typeof upgradeActivities>;

/**
 * Where the backup goes, checked before the go: a dump directory must exist and be writable on the
 * worker, with room for a dump (an archive is far smaller than the DB: about a twentieth measured
 * here, bench/README.md; amber below a quarter of the DB's size). A clone needs room on the DB server,
 * which only PostgreSQL knows: its size is said. A bucket is checked by the dump itself.
 */
async function backupDestination(
  plan: UpgradePlan,
  dbBytes: number,
): Promise<{ red: string[]; amber: string[]; ok: string }> {
  const b = plan.spec.backup;
  if (b.strategy === 'clone')
    return {
      red: [],
      amber: [],
      ok: `a clone of ${formatBytes(dbBytes)} on the DB server, made once Airflow is stopped`,
    };
  if (b.to.startsWith('s3://'))
    return { red: [], amber: [], ok: `${b.to} (written and read back by the dump itself)` };
  try {
    if (!(await stat(b.to)).isDirectory()) return { red: [`${b.to} is not a directory`], amber: [], ok: '' };
    await access(b.to, constants.W_OK);
  } catch (err) {
    return {
      red: [`${b.to} is not a writable directory on the worker (${message(err)})`],
      amber: [],
      ok: '',
    };
  }
  const fs = await statfs(b.to);
  const free = fs.bavail * fs.bsize;
  return {
    red: [],
    amber:
      free < dbBytes / 4
        ? [`${b.to} has ${formatBytes(free)} free for a dump of a ${formatBytes(dbBytes)} DB`]
        : [],
    ok: `${b.to}, ${formatBytes(free)} free`,
  };
}

/**
 * The chart's values PREFLIGHT needs on Kubernetes: a migration Job the GitOps tool applies as a
 * plain resource (enabled, useHelmHooks false: a hook is not run by Argo CD / Flux the way `helm
 * upgrade` runs it, so nothing would migrate), and the release the values name now. Absent keys
 * are the chart's defaults (enabled true, useHelmHooks true).
 */
async function chartValues(
  values: HelmValuesPort,
  location: string,
  from: string,
): Promise<{ red: string[]; ok: string }> {
  const job = await values.read(locationUnder(location, 'migrateDatabaseJob'), ['enabled', 'useHelmHooks']);
  const root = await values.read(location, ['airflowVersion', 'defaultAirflowTag']);
  const image = await values.read(locationUnder(location, 'images.airflow'), ['tag']);
  const red: string[] = [];
  if (job.enabled === 'false')
    red.push(
      'migrateDatabaseJob.enabled is false: the chart makes no migration Job, so nothing would migrate the DB for the new image',
    );
  if (job.useHelmHooks !== 'false')
    red.push(
      `migrateDatabaseJob.useHelmHooks is ${job.useHelmHooks ?? 'unset (the chart default, true)'}: Argo CD and Flux do not run a Helm hook as helm upgrade does; set it to false so they apply the Job as a plain resource`,
    );
  // The chart prefers images.airflow.tag over defaultAirflowTag: with it set, the merge would change
  // no image and the migration Job would never run the new release.
  if (image.tag !== null && image.tag !== '' && image.tag !== 'null')
    red.push(
      `images.airflow.tag pins ${image.tag}: the chart runs that image whatever defaultAirflowTag says; remove it (or set it to null) so the upgrade's defaultAirflowTag takes effect`,
    );
  if (root.airflowVersion !== null && root.airflowVersion !== from)
    red.push(`airflowVersion is ${root.airflowVersion} in the values, not ${from} (airflow.version)`);
  return {
    red,
    ok: `${values.describe()}: migrateDatabaseJob enabled without Helm hooks; airflowVersion ${root.airflowVersion ?? '(chart default)'}, defaultAirflowTag ${root.defaultAirflowTag ?? '(chart default)'}`,
  };
}

/**
 * Airflow 2's apache-airflow itself requires some providers (ftp, imap, sqlite, fab...); Airflow 3's
 * does not, so a target install made the Airflow 3 way lacks them although nobody chose them. Such a
 * provider missing on the target blocks only when a DAG imports it (`airflow.providers.<name>` in a
 * file of the DAG folder); else it is amber. A folder the worker cannot read keeps it blocking.
 */
async function notBundledInNewMajor(
  findings: ProviderFinding[],
  bundledByOld: string[],
  dagsFolder: string | null,
): Promise<ProviderFinding[]> {
  const candidates = findings.filter(
    (f) => f.blocking && f.missingInTarget === true && bundledByOld.includes(f.name),
  );
  if (candidates.length === 0 || dagsFolder === null) return findings;
  let sources: string[];
  try {
    const files = (await readdir(dagsFolder, { recursive: true })).filter((f) => f.endsWith('.py'));
    sources = await Promise.all(files.map((f) => readFile(path.join(dagsFolder, f), 'utf8')));
  } catch {
    return findings;
  }
  return findings.map((f) => {
    if (!candidates.includes(f)) return f;
    const module = `airflow.providers.${f.name.replace(/^apache-airflow-providers-/, '').replace(/-/g, '.')}`;
    const usedBy = sources.some((text) => text.includes(module));
    return usedBy
      ? { ...f, problem: `${f.problem}, and a DAG imports ${module}` }
      : {
          ...f,
          blocking: false,
          problem: `${f.problem}; the old release installed it itself and no DAG imports ${module}`,
        };
  });
}

/** Every provider any component reports, once (the components share one install). */
function uniqueProviders(found: ComponentInventory[]): ProviderInstalled[] {
  const seen = new Map<string, ProviderInstalled>();
  for (const c of found) for (const p of c.providers) if (!seen.has(p.name)) seen.set(p.name, p);
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Waits until the scheduler moved each due DAG's next_dagrun_create_after past when it fell due. */
async function waitScheduled(
  due: ScheduleCheck[],
  graceMs: number,
  nextDue: (ids: string[]) => Promise<Record<string, string | null>>,
): Promise<ScheduleCheck[]> {
  const deadline = Date.now() + graceMs;
  let pending = due.map((d) => ({ ...d }));
  for (;;) {
    const now = await nextDue(pending.filter((d) => !d.scheduled).map((d) => d.dagId));
    pending = pending.map((d) => {
      const next = now[d.dagId];
      return d.scheduled || (next !== undefined && next !== null && Date.parse(next) > Date.parse(d.dueAt))
        ? { ...d, scheduled: true }
        : d;
    });
    heartbeat({ phase: 'schedule', left: pending.filter((d) => !d.scheduled).length });
    if (pending.every((d) => d.scheduled) || Date.now() >= deadline) return pending;
    await new Promise((res) => setTimeout(res, 2_000));
  }
}

/** The history tables as they are now: exact counts and checksums. */
async function historyOf(database: UpgradeDatabasePort) {
  return {
    rowCounts: await database.rowCounts(HISTORY_TABLES),
    checksums: await database.tableChecksums(HISTORY_TABLES),
  };
}

/**
 * Waits while a session holds Airflow's migration lock on the live DB (an earlier attempt's orphaned
 * `airflow db migrate`, or anyone's), heartbeating; null when nobody held it.
 */
async function waitMigrationLock(
  database: UpgradeDatabasePort,
): Promise<{ pid: number; backendStart: string; waitedMs: number } | null> {
  const t0 = Date.now();
  let first: { pid: number; backendStart: string } | null = null;
  for (;;) {
    const holder = await database.migrationLockHolder();
    if (!holder) return first ? { ...first, waitedMs: Date.now() - t0 } : null;
    first ??= { pid: holder.pid, backendStart: holder.backendStart };
    heartbeat({ phase: 'waiting for a running migration', holderPid: holder.pid, blocked: holder.waiting });
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** This activity's attempt (1 outside an activity, as in a direct call). */
function attempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
