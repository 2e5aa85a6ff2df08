/**
 * Airflow's own view of itself for the Kubernetes test server's clusters, where no Airflow runs "in"
 * the pods (they are local processes exec'd into): the health endpoint and the metadata DB's DAG and
 * heartbeat figures of a healthy deployment. Scripted like the REST API those tests script for the
 * same reason; the pods, events and claims are still read for real from the test server.
 */
import type { AirflowHealthPort, DeploymentDbPort } from '../../activities/deployment-health-ports.js';

export function healthyAirflowHealth(version = '3.3.2'): AirflowHealthPort {
  return {
    async read() {
      const now = new Date().toISOString();
      const beat = (status: string) => ({ status, latestHeartbeat: now });
      return {
        url: 'http://airflow-api-server.test-cluster:8080',
        health: {
          metadatabase: { status: 'healthy', latestHeartbeat: null },
          scheduler: beat('healthy'),
          triggerer: beat('healthy'),
          dag_processor: beat('healthy'),
        },
        version,
        importErrors: [],
        dagWarnings: [],
        error: null,
        notes: [],
      };
    },
  };
}

export function healthyDeploymentDb(): DeploymentDbPort {
  return {
    async deploymentHealth() {
      return {
        visibility: { serializedDags: 2, activeDags: 2, dagFiles: 2, pausedDags: 0 },
        jobs: [],
        revision: 'test-cluster',
      };
    },
  };
}

/** The adapter overrides a worker serving a test-cluster target takes. */
export const airflowInTestCluster = (version?: string) => ({
  airflowHealth: healthyAirflowHealth(version),
  deploymentDb: healthyDeploymentDb(),
});
