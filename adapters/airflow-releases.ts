/**
 * AirflowReleasesPort over the Airflow installs a target can run (venvs on a local target) and their
 * CLI (adapters/airflow-upgrade-cli.ts). Databases are named by the upgrade's activities; this adapter
 * turns a name into a URL on the live DB's server, so no URL leaves the worker.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AirflowReleasesPort } from '../activities/upgrade-ports.js';
import type { Heartbeat } from '../activities/heartbeat.js';
import type {
  ConfigLintFinding,
  DagFinding,
  ProviderFinding,
  ProviderInstalled,
} from '../domain/upgrade/run.js';
import { AirflowUpgradeCli } from './airflow-upgrade-cli.js';

export interface AirflowReleasesOptions {
  /** Where `version` is installed (a venv), or null. */
  venvFor(version: string): string | null;
  /** The URL of database `name` on the live metadata DB's server (credentials included: never shown). */
  dbUrlFor(name: string): string;
  /** A component's config as it runs: its env (AIRFLOW__* and AIRFLOW_HOME), for the config lint. */
  componentEnv(component: string): Record<string, string>;
  ruffBin?: string;
  /** How long `db check-migrations` waits for the heads to match (default 5 s: they match or not). */
  checkTimeoutS?: number;
}

export class AirflowReleases implements AirflowReleasesPort {
  private readonly clis = new Map<string, AirflowUpgradeCli>();

  constructor(private readonly options: AirflowReleasesOptions) {}

  installed(version: string): string | null {
    return this.options.venvFor(version);
  }

  private venv(version: string): string {
    const venv = this.options.venvFor(version);
    if (!venv) throw new Error(`Airflow ${version} is not installed for this target`);
    return venv;
  }

  private cli(version: string): AirflowUpgradeCli {
    const venv = this.venv(version);
    let cli = this.clis.get(venv);
    if (!cli) {
      cli = new AirflowUpgradeCli({
        targetVenv: venv,
        ...(this.options.ruffBin ? { ruffBin: this.options.ruffBin } : {}),
      });
      this.clis.set(venv, cli);
    }
    return cli;
  }

  async versionOfRevision(version: string, revision: string): Promise<string | null> {
    const described = await this.cli(version).describeRevision(revision);
    return described.knownToVenv ? described.airflowVersion : null;
  }

  async migrationSql(version: string, db: string) {
    const sql = await this.cli(version).migrationSql({
      venv: this.venv(version),
      dbUrl: this.options.dbUrlFor(db),
    });
    // What the offline SQL leaves out, an online migration does: the approver reads it beside the SQL.
    const manual = sql.manualSteps.map(
      (m) => `-- NOT IN THE SQL ABOVE (done online by the migration): ${JSON.stringify(m)}`,
    );
    return {
      fromRevision: sql.fromRevision,
      sql: [sql.sql, ...manual].join('\n'),
      statements: sql.statementCount,
    };
  }

  async migrate(version: string, db: string, heartbeat?: Heartbeat) {
    const r = await this.cli(version).migrate({
      venv: this.venv(version),
      dbUrl: this.options.dbUrlFor(db),
      ...(heartbeat ? { heartbeat } : {}),
    });
    if (!r.ok)
      throw new Error(
        `${r.error ?? `exit ${r.exitCode}`}; the DB is left at ${r.toRevision ?? 'an unknown revision'} (from ${r.fromRevision ?? '?'})`,
      );
    return {
      fromRevision: r.fromRevision ?? '',
      toRevision: r.toRevision ?? '',
      durationMs: r.durationMs,
      outputTail: r.outputTail,
    };
  }

  async checkMigrations(version: string, db: string): Promise<boolean> {
    const r = await this.cli(version).checkMigrations({
      venv: this.venv(version),
      dbUrl: this.options.dbUrlFor(db),
      timeoutS: this.options.checkTimeoutS ?? 5,
    });
    return r.ok;
  }

  async downgrade(version: string, toVersion: string, db: string, heartbeat?: Heartbeat) {
    const r = await this.cli(version).downgrade({
      venv: this.venv(version),
      dbUrl: this.options.dbUrlFor(db),
      toVersion,
      ...(heartbeat ? { heartbeat } : {}),
    });
    if (!r.ok)
      throw new Error(`airflow db downgrade --to-version ${toVersion}: ${r.error ?? `exit ${r.exitCode}`}`);
    return { durationMs: r.durationMs, outputTail: r.outputTail };
  }

  async configLint(version: string, component: string): Promise<ConfigLintFinding[]> {
    const r = await this.cli(version).configLint({
      targetVenv: this.venv(version),
      env: this.options.componentEnv(component),
    });
    return r.findings.map((f) => ({ section: f.section ?? '', option: f.option ?? '', message: f.message }));
  }

  async airflow3DagFindings(version: string, dagsFolder: string): Promise<DagFinding[]> {
    const r = await this.cli(version).ruffAirflow3({
      dagsFolder,
      ...(this.options.ruffBin ? { ruffBin: this.options.ruffBin } : {}),
    });
    // ruffAirflow3 names each file relative to the folder already.
    return r.findings.map((f) => ({
      file: f.file,
      line: f.line,
      rule: f.rule,
      message: f.message,
      breaking: f.breaking,
    }));
  }

  bundledProviders(version: string): string[] {
    const venv = this.options.venvFor(version);
    return venv ? requiredProviders(venv) : [];
  }

  async providerFindings(version: string, installed: ProviderInstalled[]): Promise<ProviderFinding[]> {
    const venv = this.venv(version);
    const r = await this.cli(version).providerCompatibility({
      installed: installed.map((p) => ({
        name: p.name,
        version: p.version,
        airflowRequirements: p.requiresAirflow === '' ? [] : p.requiresAirflow.split('\n'),
      })),
      targetVersion: version,
      // The target's constraints are what its install holds: every distribution pinned as installed.
      targetConstraints: installedPins(venv),
      targetVenv: venv,
    });
    return r.findings.map((f) => ({
      name: f.provider,
      installed: f.installedVersion,
      target: f.to ?? null,
      problem: f.detail,
      blocking: f.blocking,
      missingInTarget: f.kind === 'missing-in-target-venv',
    }));
  }
}

/** Each site-packages directory under a venv's lib/ with its entries (a missing one is skipped). */
function sitePackages(venv: string): { site: string; entries: string[] }[] {
  const lib = path.join(venv, 'lib');
  const found: { site: string; entries: string[] }[] = [];
  for (const py of readdirSync(lib)) {
    const site = path.join(lib, py, 'site-packages');
    try {
      found.push({ site, entries: readdirSync(site) });
    } catch {
      // not a Python directory
    }
  }
  return found;
}

/** The `apache-airflow-providers-*` an install's apache-airflow requires unconditionally (no extra). */
export function requiredProviders(venv: string): string[] {
  for (const { site, entries } of sitePackages(venv)) {
    const dist = entries.find((e) => /^apache_airflow-[^-]+\.dist-info$/.test(e));
    if (!dist) continue;
    const names = new Set<string>();
    for (const line of readFileSync(path.join(site, dist, 'METADATA'), 'utf8').split('\n')) {
      const m = /^Requires-Dist:\s*(apache-airflow-providers-[a-z0-9-]+)([^;]*)(;.*)?$/i.exec(line);
      if (m?.[1] && !/extra\s*==/.test(m[3] ?? '')) names.add(m[1].toLowerCase());
    }
    return [...names].sort();
  }
  return [];
}

/** `name==version` for every distribution in a venv, from its dist-info directories (no Python start). */
export function installedPins(venv: string): string {
  const pins: string[] = [];
  for (const { entries } of sitePackages(venv)) {
    for (const e of entries) {
      const m = /^(.+)-([^-]+)\.dist-info$/.exec(e);
      if (m) pins.push(`${m[1]}==${m[2]}`);
    }
  }
  return pins.sort().join('\n');
}
