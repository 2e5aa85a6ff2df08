/** The workflow bundle's entry: every runbook's workflow type, registered by one worker. */
export { xcomBackendCutover } from './xcom/workflow.js';
