/** The workflow bundle's entry: every runbook's workflow type, registered by one worker. */
export { stateStoreBackendCutover } from './statestore/workflow.js';
export { xcomBackendCutover } from './xcom/workflow.js';
export { deploymentAssessment } from './assessment/workflow.js';
export { airflowUpgrade } from './upgrade/workflow.js';
