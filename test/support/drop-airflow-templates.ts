/**
 * `node dist/test/support/drop-airflow-templates.js`: drops the Airflow schema templates
 * (test/support/airflow-db.ts). scripts/test.sh runs it before and after the tests, so a run
 * starts from the venvs it has and leaves no database behind. Quiet unless it fails.
 */
import { dropAirflowTemplates } from './airflow-db.js';

dropAirflowTemplates().catch((err: unknown) => {
  process.stderr.write(`test: could not drop the Airflow schema templates: ${String(err)}\n`);
  process.exitCode = 1;
});
