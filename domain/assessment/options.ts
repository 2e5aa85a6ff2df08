/**
 * How the deployment health checks judge (plain data: the workflows import it, so no I/O here). An
 * assessment plan sets them in its spec; the change runbooks' gate uses the defaults.
 */
import type { Duration } from '../duration.js';

export interface HealthOptions {
  heartbeatTimeout: Duration;
  maxRestarts: number;
  /** The Helm values file (kubernetes targets), when the plan names one. */
  helmValues?: string;
}

export const DEFAULT_HEALTH_OPTIONS: HealthOptions = { heartbeatTimeout: '60s', maxRestarts: 5 };
