/** The deployment assessment's names, apart from its types so the plan schema and the workflow both import them. */
export const ASSESSMENT_KIND = 'DeploymentAssessment';
export const ASSESSMENT_WORKFLOW_TYPE = 'deploymentAssessment';
/** Activity names of this runbook are prefixed so they never collide with another runbook's. */
export const ASSESSMENT_ACTIVITY_PREFIX = 'assess.';
