/** Environments for Airflow processes in tests: shipped in local/airflow-env.ts, re-exported here. */
export { airflowBaseEnv, tempAirflowHome, type AirflowEnvOptions } from '../../local/airflow-env.js';
