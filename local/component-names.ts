/** The Airflow components a local target runs, named as the plans and the supervisor name them. */
export type AirflowComponentName = 'api-server' | 'scheduler' | 'dag-processor' | 'triggerer';

export const AIRFLOW_COMPONENTS: readonly AirflowComponentName[] = [
  'api-server',
  'scheduler',
  'dag-processor',
  'triggerer',
];
