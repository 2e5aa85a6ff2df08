/**
 * The run on a time axis: one lane per phase in the order the run went through them, each step a
 * bar, the approval wait between the evidence and the change, and the failure and the heal marked
 * with the time to heal between them.
 */
import type { RunStatus, StepRecord } from '../../domain/engine/run.js';
import { formatDuration } from '../../domain/figures.js';
import { rcaFigures } from '../rca.js';
import { COLOURS, el, svgDocument, text, tooltip, type Plot } from './svg.js';

const W = 760;
const LABEL = 118;
const RIGHT = 24;
const TOP = 40;
const LANE = 26;
const BOTTOM = 46;
const PW = W - LABEL - RIGHT;

/** Tick spacings people read easily, from a second to a day. */
const TICKS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map(
  (s) => s * 1000,
);

type Timed = StepRecord & { startedAt: string; finishedAt: string };

function isTimed(s: StepRecord): s is Timed {
  return typeof s.startedAt === 'string' && typeof s.finishedAt === 'string';
}

/**
 * The approval wait: from the last evidence step's end to the first change step's start; `at` is
 * that change step's index, where the AWAIT_GO lane goes.
 */
function approvalWait(status: RunStatus, steps: Timed[]): { from: number; to: number; at: number } | null {
  if (!status.decision || status.decision.kind !== 'approve') return null;
  const evidencePhases = new Set(['CALIBRATE', 'PREFLIGHT', 'RENDER', 'REHEARSE', 'ASSESS']);
  const at = steps.findIndex((s) => !evidencePhases.has(s.phase));
  const lastEvidence = steps[at - 1];
  const change = steps[at];
  if (!lastEvidence || !change) return null;
  return { from: Date.parse(lastEvidence.finishedAt), to: Date.parse(change.startedAt), at };
}

export function timelinePlot(status: RunStatus): Plot | null {
  const steps = status.steps.filter(isTimed);
  if (steps.length === 0) return null;
  const wait = approvalWait(status, steps);
  const rca = rcaFigures(status);
  const phases = steps.map((s) => s.phase);
  if (wait) phases.splice(wait.at, 0, 'AWAIT_GO');
  const lanes = [...new Set(phases)];
  const t0 = Math.min(...steps.map((s) => Date.parse(s.startedAt)));
  const t1 = Math.max(t0 + 1, ...steps.map((s) => Date.parse(s.finishedAt)));
  const span = t1 - t0;
  const x = (t: number) => LABEL + ((t - t0) / span) * PW;
  const laneY = (phase: string) => TOP + lanes.indexOf(phase) * LANE;
  const H = TOP + lanes.length * LANE + BOTTOM;
  const title = `Timeline of ${status.workflowId}: ${status.outcome ?? status.phase}, ${formatDuration(span)} from the first step to the last`;

  const body: string[] = [];
  // Past the longest spacing, whole days: never more than eight ticks.
  const tick = TICKS_MS.find((t) => span / t <= 8) ?? Math.ceil(span / 8 / 86_400_000) * 86_400_000;
  for (let t = 0; t <= span; t += tick) {
    const xx = x(t0 + t);
    body.push(
      el('line', { x1: xx, x2: xx, y1: TOP - 4, y2: H - BOTTOM, stroke: COLOURS.grid }),
      text(
        { x: xx, y: H - BOTTOM + 16, 'text-anchor': 'middle', fill: COLOURS.muted },
        t === 0 ? '0' : formatDuration(t),
      ),
    );
  }
  body.push(
    text(
      { x: LABEL + PW / 2, y: H - 8, 'text-anchor': 'middle', fill: COLOURS.ink },
      `time since ${new Date(t0).toISOString()}`,
    ),
  );
  for (const phase of lanes) {
    body.push(text({ x: LABEL - 8, y: laneY(phase) + 16, 'text-anchor': 'end', fill: COLOURS.ink }, phase));
  }
  if (wait) {
    const yy = laneY('AWAIT_GO');
    body.push(
      el(
        'rect',
        {
          x: x(wait.from),
          y: yy + 4,
          width: Math.max(1, x(wait.to) - x(wait.from)),
          height: LANE - 8,
          fill: COLOURS.wait,
          'data-role': 'approval-wait',
        },
        tooltip(`waiting for the go: ${formatDuration(wait.to - wait.from)}`),
      ),
    );
  }
  for (const s of steps) {
    const from = Date.parse(s.startedAt);
    const to = Date.parse(s.finishedAt);
    const fill = s.status === 'failed' ? COLOURS.red : s.status === 'ok' ? COLOURS.green : COLOURS.grey;
    body.push(
      el(
        'rect',
        {
          x: x(from),
          y: laneY(s.phase) + 4,
          width: Math.max(2, x(to) - x(from)),
          height: LANE - 8,
          fill,
          rx: 2,
          'data-step': s.step,
        },
        tooltip(`${s.phase} / ${s.step} (${s.status}, ${formatDuration(to - from)}): ${s.summary}`),
      ),
    );
  }
  if (rca?.detectedAt) {
    // Two labels stacked above the lanes, beside the failure line on the side with room.
    const xd = x(Date.parse(rca.detectedAt));
    const left = xd > LABEL + PW * 0.4;
    const lx = left ? xd - 6 : xd + 6;
    const anchor = left ? 'end' : 'start';
    body.push(
      el('line', { x1: xd, x2: xd, y1: 6, y2: H - BOTTOM, stroke: COLOURS.red, 'stroke-width': 2 }),
      text(
        { x: lx, y: 14, 'text-anchor': anchor, fill: COLOURS.red, 'data-role': 'failure' },
        `failed: ${rca.failingStep ?? ''}`,
      ),
    );
    if (rca.healedAt) {
      const xh = x(Date.parse(rca.healedAt));
      body.push(
        el('line', { x1: xh, x2: xh, y1: 20, y2: H - BOTTOM, stroke: COLOURS.green, 'stroke-width': 2 }),
        el('line', {
          x1: xd,
          x2: xh,
          y1: 24,
          y2: 24,
          stroke: COLOURS.ink,
          'marker-end': 'url(#arrow)',
          'data-role': 'time-to-heal',
        }),
        text(
          { x: lx, y: 29, 'text-anchor': anchor, fill: COLOURS.green, 'font-weight': 'bold' },
          `healed: time to heal ${formatDuration(Date.parse(rca.healedAt) - Date.parse(rca.detectedAt))}`,
        ),
      );
    }
  }
  const defs = el(
    'defs',
    {},
    el(
      'marker',
      {
        id: 'arrow',
        viewBox: '0 0 10 10',
        refX: 10,
        refY: 5,
        markerWidth: 6,
        markerHeight: 6,
        orient: 'auto',
      },
      el('path', { d: 'M0,0 L10,5 L0,10 z', fill: COLOURS.ink }),
    ),
  );
  return { file: 'timeline.svg', title, svg: svgDocument(W, H, title, [defs, ...body]) };
}
