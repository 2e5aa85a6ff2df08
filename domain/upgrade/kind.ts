/** The upgrade runbook's names, apart from its types so the plan schema and the workflow both import them. */
export const UPGRADE_KIND = 'AirflowUpgrade';
export const UPGRADE_WORKFLOW_TYPE = 'airflowUpgrade';
/** Activity names of this runbook are prefixed so they never collide with another runbook's. */
export const UPGRADE_ACTIVITY_PREFIX = 'upgrade.';
/**
 * The env-file key a local target's supervisor reads to pick the Airflow install its components run
 * from: the name the official apache/airflow image sets for its own version.
 */
export const AIRFLOW_VERSION_KEY = 'AIRFLOW_VERSION';
