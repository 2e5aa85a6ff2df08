/**
 * The approval request as people read it: `cutover status` prints these lines and the workflow
 * shows them in the Web UI's current details while it waits at AWAIT_GO. Pure: workflow code uses it.
 */
import { command, keyValues } from '../text.js';
import type { ApprovalRequest } from './run.js';

export function approvalRequestLines(workflowId: string, a: ApprovalRequest): string[] {
  const self = a.allowSelfApproval
    ? 'self-approval allowed'
    : `self-approval not allowed; started by ${a.startedBy}`;
  const answer = (verb: string) =>
    command(
      'cutover',
      verb,
      workflowId,
      '--operator',
      '<name>',
      '--reason',
      '"<why>"',
      '--digest',
      a.planDigest,
    );
  return [
    'pending approval:',
    ...keyValues([
      ['who may approve', `${a.approvers.join(', ')} (${self})`],
      ['deadline', a.deadline],
      ['plan digest', a.planDigest],
    ]),
    '  review:',
    ...a.review.map((line) => `    - ${line}`),
    '  to approve:',
    `    ${answer('approve')}`,
    '  to reject:',
    `    ${answer('reject')}`,
  ];
}
