/**
 * The ports the state-store runbook's activities use (metadata-DB tables, probes in a component,
 * the data-aware heal) and the records they answer with. The adapters in adapters/state-store-*.ts
 * implement them; declared here so activities/adapters.ts never imports an adapter.
 */
import type { Component } from '../domain/engine/plan.js';
import type { SizeBand, SizeQuantiles } from '../domain/evidence.js';
import type { Heartbeat } from './heartbeat.js';

export interface StateSizeStats<P> {
  /** Plain (not wrapped) rows: the ones the quantiles and producers describe. */
  rowCount: number;
  sizeBytes: SizeQuantiles;
  sizeBands: SizeBand[];
  totalBytes: number;
  /** Rows already holding the backend's marker: not measured. */
  wrapped: { rows: number; inlineRefs: number; objectRefs: number };
  /** Largest producers first (by max size, then rows). */
  topProducers: P[];
}

export interface TaskStateProducer {
  dagId: string;
  taskId: string;
  key: string;
  rows: number;
  maxBytes: number;
  totalBytes: number;
}

export interface AssetStateProducer {
  /** null when the asset row is gone (the FK cascades, so only mid-delete). */
  assetName: string | null;
  key: string;
  rows: number;
  maxBytes: number;
  totalBytes: number;
}

export interface StateStoreSizes {
  task: StateSizeStats<TaskStateProducer>;
  asset: StateSizeStats<AssetStateProducer>;
}

export interface PerStore<T> {
  task: T;
  asset: T;
}

/** The port CALIBRATE (and the heal's closing check) uses for the state store tables. */
export interface StateStoreDbPort {
  measureStateStoreSizes(opts?: { topProducers?: number }): Promise<StateStoreSizes>;
  /** Plain rows whose JSON text is >= each threshold (the backend offloads size >= threshold), in order. */
  countRowsAtOrAbove(thresholds: number[]): Promise<PerStore<number[]>>;
  /** Rows holding the backend's marker, updated at or after `since` (all of them without it). */
  countMarkerRows(since?: Date): Promise<PerStore<number>>;
  close(): Promise<void>;
}

export type HealMode = 'heal' | 'restore' | 'status';

export interface HealRequest {
  /** The change the flip belonged to: the journal's key, so reruns of the same change resume. */
  changeId: string;
  /** When APPLY started: rows updated at or after it are the ones the backend may have wrapped. */
  since: Date;
  /** The base path the flip used ([common.io] state_store_objectstorage_path). */
  path: string;
  /** The compression the flip used ('' = none); objects are read by their suffix first. */
  compression: string;
  batchSize?: number;
  /** Object reads in flight at once (default 8): each is one round trip to the store. */
  readThreads?: number;
  mode?: HealMode;
  /** How many unreadable rows are listed one by one (all are counted). Default 200. */
  maxReported?: number;
}

export interface StoreCounts {
  examined: number;
  rewritten: number;
  inlineRefs: number;
  objectRefs: number;
  unreadable: number;
  alreadyJournaled: number;
  changedConcurrently: number;
  notMarkers: number;
  restored?: number;
}

export interface UnreadableRow {
  store: 'task' | 'asset';
  reason: string;
  detail: string;
  path: string | null;
  key: string;
  /** task rows */
  id?: number;
  dagId?: string;
  runId?: string;
  taskId?: string;
  mapIndex?: number;
  /** asset rows */
  assetId?: number;
  assetName?: string | null;
}

export interface HealReport {
  mode: HealMode;
  changeId: string;
  since: string;
  dialect: string;
  host: string;
  pid: number;
  journalTable: string;
  stores: { task: StoreCounts; asset: StoreCounts };
  rewritten: number;
  unreadable: UnreadableRow[];
  unreadableTruncated: boolean;
  batches: number;
  bytesRead?: number;
  compressionFallbacks?: number;
  journal: { before: { task: number; asset: number }; after: { task: number; asset: number } };
  markerRowsRemaining: {
    sinceApply: { task: number; asset: number };
    beforeApply: { task: number; asset: number };
  };
  /** Every marker row left since APPLY is one this run reported. */
  accountedFor: boolean;
  /** No marker row left since APPLY. */
  healed: boolean;
  /** A heal that rewrote nothing: everything was already plain (or unreadable). */
  nothingToDo: boolean;
  durationsMs: { select: number; resolve: number; write: number; total: number };
}

/** The port COMPENSATE uses. */
export interface StateStoreHealPort {
  heal(args: HealRequest & { component: Component; heartbeat?: Heartbeat }): Promise<HealReport>;
}

/** A variable spelled so that Airflow never reads it, or a draft name that never shipped. */
export interface DraftName {
  variable: string;
  problem: string;
  /** What to set instead (`NAME` or `NAME=value`). */
  use: string;
}

/** The state-store config as a component resolves it through Airflow's own conf. */
export interface StateStoreConfig {
  component: string;
  host: string;
  /** `[workers] state_store_backend` ('' = none: values go to the DB as they are). */
  workerBackend: string | null;
  /** `[state_store] backend`: the server-side store, must stay the metastore. */
  serverBackend: string | null;
  path: string | null;
  threshold: number | null;
  compression: string | null;
  workerBackendClass: string | null;
  serverBackendClass: string | null;
  versions: Record<string, string | null>;
  drafts: DraftName[];
  /** Everything that would make the flip fail or silently do nothing; empty when fine. */
  problems: string[];
  /** "<Type> (<step>): <message>" when resolving raised. */
  error: string | null;
}

export interface StateStoreRehearsalChecks {
  offloaded: boolean;
  markerInDb: boolean;
  roundTripIntact: boolean;
  breakConfirmed: boolean;
  healConfirmed: boolean;
  readableAfterReflip: boolean;
  cleaned: boolean;
}

export interface StateStoreRehearsal {
  component: string;
  host: string;
  valueBytes: { small: number; large: number };
  threshold: number | null;
  expectInline: Record<string, boolean>;
  objectPaths: string[];
  /** 'task:<key>' | 'asset:<key>' -> what the DB row held. */
  rows: Record<string, { marker: boolean; storedBytes: number; ref: string }>;
  checks: StateStoreRehearsalChecks;
  timingsMs: Record<string, number>;
}

/** What the runbook asks of its probes inside a component. */
export interface StateStoreProbesPort {
  /** VERIFY / PREFLIGHT: what the component resolves with its env plus `extraEnv` (the rendered change). */
  resolve(args: { component: Component; extraEnv?: Record<string, string> }): Promise<StateStoreConfig>;
  /** REHEARSE: the flip and its undo with `env` as it would be deployed. */
  rehearse(args: {
    component: Component;
    runId: string;
    env: Record<string, string>;
    heartbeat?: Heartbeat;
    largeBytes?: number;
    smallBytes?: number;
  }): Promise<StateStoreRehearsal>;
}
