/**
 * MetadataDbPort "in-pod": the calibration SQL runs inside an Airflow component,
 * through the SQLAlchemy engine Airflow itself configures from
 * `[database] sql_alchemy_conn` (probes/calibrate.py over the exec port). For
 * deployments where only the pods can reach the metadata DB, and where the worker
 * must never hold the DB's credentials.
 *
 * Same statements as the direct adapter (adapters/metadata-db.ts exports them), read
 * with the same functions, so both give the same figures. Costs one exec per call
 * (a Python start plus Airflow's import, about 2 s locally) and one more the first
 * time, to find the xcom table and its value column's type (cached afterwards).
 */
import type { Heartbeat, MeasureOptions, MetadataDbPort, XComSizeStats } from '../activities/adapters.js';
import { PermanentFault } from '../activities/engine/errors.js';
import type { Component } from '../domain/plan.js';
import type { MetadataDbProbe, SqlStatement } from './airflow-probes.js';
import {
  checkThresholds,
  countRowsAtOrAboveSql,
  measureXComSizesStatement,
  PERMANENT_SQLSTATES,
  XCOM_TABLE_SQL,
  xcomSizeStatsFrom,
  xcomTableFrom,
  type XComSizesRow,
  type XComTable,
  type XComTableRow,
} from './metadata-db.js';

/** Connection-time refusals carry no SQLSTATE in psycopg2; their text is stable enough to recognise. */
const PERMANENT_MESSAGES: [RegExp, string][] = [
  [/password authentication failed/i, 'authentication failed'],
  [/no pg_hba\.conf entry/i, 'connection not authorised'],
  [/database "[^"]*" does not exist/i, 'database does not exist'],
  [/role "[^"]*" does not exist/i, 'authentication failed'],
];

export interface InPodMetadataDbOptions {
  /** Passed to the probe while it runs (the activity heartbeats on its own too). */
  heartbeat?: Heartbeat;
}

export class InPodMetadataDb implements MetadataDbPort {
  readonly source = 'in-pod' as const;
  private table: Promise<XComTable> | undefined;

  constructor(
    private readonly probe: MetadataDbProbe,
    readonly component: Component,
    private readonly options: InPodMetadataDbOptions = {},
  ) {}

  /** Where the SQL runs, for messages. */
  describe(): string {
    return `the metadata DB via component ${this.component.name}`;
  }

  async measureXComSizes(options: MeasureOptions = {}): Promise<XComSizeStats> {
    const t = await this.xcomTable();
    const [rows] = await this.run([measureXComSizesStatement(t, options)]);
    const row = rows?.[0];
    if (!row) throw new Error(`the size query on ${this.describe()} returned no row`);
    return xcomSizeStatsFrom(row as unknown as XComSizesRow, options.samplePercent);
  }

  async countRowsAtOrAbove(thresholds: number[]): Promise<number[]> {
    if (thresholds.length === 0) return [];
    checkThresholds(thresholds);
    const t = await this.xcomTable();
    const [rows = []] = await this.run([{ sql: countRowsAtOrAboveSql(t), params: [thresholds] }]);
    if (rows.length !== thresholds.length) {
      throw new Error(
        `the count query on ${this.describe()} returned ${rows.length} row(s) for ${thresholds.length} threshold(s)`,
      );
    }
    return rows.map((r) => Number(r['n']));
  }

  /** The value column's type as found (for reports and tests). */
  async valueColumnType(): Promise<string> {
    return (await this.xcomTable()).columnType;
  }

  private xcomTable(): Promise<XComTable> {
    this.table ??= this.detect().catch((err: unknown) => {
      this.table = undefined; // a transient failure must not stick
      throw err;
    });
    return this.table;
  }

  private async detect(): Promise<XComTable> {
    const [rows] = await this.run([{ sql: XCOM_TABLE_SQL }]);
    return xcomTableFrom(rows?.[0] as XComTableRow | undefined, this.describe());
  }

  private async run(statements: SqlStatement[]): Promise<Record<string, unknown>[][]> {
    const res = await this.probe.calibrate({
      component: this.component,
      statements,
      ...(this.options.heartbeat ? { heartbeat: this.options.heartbeat } : {}),
    });
    if (res.ok) return res.results;
    const e = res.error;
    const known =
      (e.sqlstate ? PERMANENT_SQLSTATES[e.sqlstate] : undefined) ??
      PERMANENT_MESSAGES.find(([re]) => re.test(e.message))?.[1];
    const detail = `${e.type}: ${e.message}${e.sqlstate && !e.message.includes(e.sqlstate) ? ` (${e.sqlstate})` : ''}`;
    if (known) throw new PermanentFault(`${this.describe()}: ${known}: ${detail}`);
    const what =
      e.connectionInvalidated || /connect|timeout|terminat/i.test(e.message) ? 'unreachable' : 'query failed';
    const fault = new Error(`${this.describe()} ${what}: ${detail}`);
    fault.name = 'MetadataDbError';
    throw fault;
  }
}
