/** Activity failure types that retrying cannot fix; the workflow's retry policies list them. */
export const NON_RETRYABLE_TYPES = [
  'AdapterMissing',
  'PermanentFault',
  'InvalidInput',
  'ControllerUnreachable',
] as const;
