/**
 * The ports the deployment health checks read through: what each source answers, without the
 * worker's timestamps (the activities stamp them). Every read is read-only.
 */
import type { AirflowSnapshot, ClusterSnapshot, ProcessSnapshot } from '../domain/assessment/snapshot.js';
import type { Component } from '../domain/engine/plan.js';

type Untimed<T> = Omit<T, 'startedAt' | 'finishedAt'>;

export interface ClusterInspectorPort {
  /** The namespace's pods (mapped to the components by their selectors), events, claims, and the nodes. */
  inspect(args: {
    namespace: string;
    release: string;
    components: Component[];
    /** The Helm values file to read the chart settings from, if the plan names one. */
    helmValues?: string;
  }): Promise<Untimed<ClusterSnapshot>>;
}

export interface ProcessInspectorPort {
  inspect(): Promise<Untimed<ProcessSnapshot>>;
}

export interface AirflowHealthPort {
  /** The health endpoint, the version, import errors and DAG warnings; unreachable is an answer (`error`). */
  read(): Promise<NonNullable<AirflowSnapshot['api']>>;
}

export interface DeploymentDbPort {
  /** DAG visibility counts, running jobs' heartbeat ages (by the DB's clock) and the schema revision. */
  deploymentHealth(): Promise<NonNullable<AirflowSnapshot['db']>>;
}
