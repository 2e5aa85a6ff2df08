/**
 * Names of the queries a runbook run answers, with no SDK import: the CLI queries by name so that
 * `cutover status` and `report` do without loading @temporalio/workflow (~0.1 s of start-up, see
 * bench/README.md, cli-startup). messages.ts defines the typed handles from these names.
 */
export const STATUS_QUERY = 'status';
