/**
 * Bench-only workflows (bench/orchestration-overhead.ts bundles this path; no
 * shipped worker registers it).
 */
import { proxyActivities } from '@temporalio/workflow';

export interface NoopActivities {
  noop(i: number): Promise<number>;
}

/** `n` no-op activities, one after the other, with default-like options and no retries. */
export async function sequentialNoops(n: number): Promise<number> {
  const { noop } = proxyActivities<NoopActivities>({
    startToCloseTimeout: '1m',
    retry: { maximumAttempts: 1 },
  });
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await noop(i);
  return sum;
}
