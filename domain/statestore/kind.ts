/** The state-store flip's names, apart from its types so the plan schema and the workflow both import them. */
export const STATE_STORE_KIND = 'StateStoreBackendCutover';
export const STATE_STORE_WORKFLOW_TYPE = 'stateStoreBackendCutover';
/** Activity names of this runbook are prefixed so they never collide with another runbook's. */
export const STATE_STORE_ACTIVITY_PREFIX = 'stateStore.';
