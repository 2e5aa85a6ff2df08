/**
 * The runbook's own Prometheus metrics, kept in the worker process and served
 * by worker/metrics-server.ts. Hand-written exposition format: three metric
 * families do not justify a client library dependency.
 *
 * Workflows cannot do I/O, so the workflow hands its samples to the notify
 * activity at each state change (activities/notify.ts) and that activity
 * records them here.
 */

/** What the workflow observed since its previous notification. */
export interface MetricSamples {
  /** Time the phase's steps took on the worker clock, one sample per phase once it has ended. */
  phaseDurations: { phase: string; seconds: number }[];
  /** Values the runbook's validation DAG runs offloaded to object storage. */
  offloadedValues: number;
  /** Set on the final notification of a run that went through the kill-switch. */
  compensation: CompensationOutcome | null;
}

export const COMPENSATION_OUTCOMES = ['rolled_back', 'operator_took_over'] as const;
export type CompensationOutcome = (typeof COMPENSATION_OUTCOMES)[number];

/** From seconds (a RENDER) to a day (a NEEDS_OPERATOR wait inside COMPENSATE). */
export const PHASE_BUCKETS_SECONDS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

export class CutoverMetrics {
  private readonly phases = new Map<string, Histogram>();
  private offloaded = 0;
  private readonly compensations = new Map<CompensationOutcome, number>(
    COMPENSATION_OUTCOMES.map((o) => [o, 0]),
  );

  record(samples: MetricSamples): void {
    for (const { phase, seconds } of samples.phaseDurations) this.observePhase(phase, seconds);
    this.offloaded += samples.offloadedValues;
    if (samples.compensation)
      this.compensations.set(samples.compensation, (this.compensations.get(samples.compensation) ?? 0) + 1);
  }

  observePhase(phase: string, seconds: number): void {
    let h = this.phases.get(phase);
    if (!h) {
      h = { buckets: PHASE_BUCKETS_SECONDS.map(() => 0), sum: 0, count: 0 };
      this.phases.set(phase, h);
    }
    PHASE_BUCKETS_SECONDS.forEach((le, i) => {
      if (seconds <= le && h) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
    });
    h.sum += seconds;
    h.count += 1;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines: string[] = [
      '# HELP cutover_phase_duration_seconds Time the steps of a cut-over phase took (worker clock).',
      '# TYPE cutover_phase_duration_seconds histogram',
    ];
    for (const [phase, h] of [...this.phases].sort(([a], [b]) => a.localeCompare(b))) {
      PHASE_BUCKETS_SECONDS.forEach((le, i) =>
        lines.push(`cutover_phase_duration_seconds_bucket{phase="${phase}",le="${le}"} ${h.buckets[i] ?? 0}`),
      );
      lines.push(`cutover_phase_duration_seconds_bucket{phase="${phase}",le="+Inf"} ${h.count}`);
      lines.push(`cutover_phase_duration_seconds_sum{phase="${phase}"} ${h.sum}`);
      lines.push(`cutover_phase_duration_seconds_count{phase="${phase}"} ${h.count}`);
    }
    lines.push(
      '# HELP cutover_validation_offloaded_values_total Values offloaded to object storage by validation DAG runs.',
      '# TYPE cutover_validation_offloaded_values_total counter',
      `cutover_validation_offloaded_values_total ${this.offloaded}`,
      '# HELP cutover_compensations_total Kill-switch runs by how they ended.',
      '# TYPE cutover_compensations_total counter',
    );
    for (const [outcome, n] of this.compensations)
      lines.push(`cutover_compensations_total{outcome="${outcome}"} ${n}`);
    return `${lines.join('\n')}\n`;
  }
}
