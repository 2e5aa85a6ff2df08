/**
 * The assessment document, in the structure of the hand-written assessment it automates
 * (../shared/reference/airflow-k8s-deployment-assessment.txt): executive summary with a component
 * table, pod (or process) analysis, critical issues with their evidence, root cause and resolution,
 * warnings and configuration issues, DAG visibility, Airflow's own health, recommendations by
 * priority, and what could not be read. Every statement comes from the run's evidence.
 */
import type { Assessment, ComponentRow, Finding, Recommendation } from '../../domain/assessment/judge.js';
import { formatAge } from '../../domain/assessment/judge.js';
import type { AssessmentEvidence } from '../../domain/assessment/run.js';
import type {
  AirflowSnapshot,
  ClusterSnapshot,
  PodSnapshot,
  ProcessSnapshot,
} from '../../domain/assessment/snapshot.js';
import type { RunStatus } from '../../domain/engine/run.js';
import { code, mdTable, plotLines, type Put } from '../report-md.js';
import { statusGridPlot } from '../plots/status-grid.js';
import type { Plot } from '../plots/svg.js';

const STATE_MARK: Record<ComponentRow['state'], string> = {
  running: '✅ Running',
  partial: '⚠️ Partial',
  failed: '❌ Failed',
  unknown: '❔ Unknown',
};
const VERDICT_MARK: Record<Assessment['verdict'], string> = {
  OPERATIONAL: '✅ **OPERATIONAL**',
  DEGRADED: '⚠️ **DEGRADED**',
  DOWN: '❌ **DOWN**',
};

/** The component table as a status grid (null before the judgement). */
export function assessmentGridPlot(status: RunStatus): Plot | null {
  const a = (status.evidence as AssessmentEvidence).assessment;
  return a ? statusGridPlot(a) : null;
}

export function assessmentDocument(status: RunStatus): string {
  const ev = status.evidence as AssessmentEvidence;
  const out: string[] = [];
  const p: Put = (...lines) => out.push(...lines);
  const a = ev.assessment;
  const when = a?.finishedAt ?? status.steps.at(-1)?.finishedAt ?? '';

  p('# Airflow Deployment Assessment', '');
  p(`**Date:** ${when.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}  `);
  p(`**Airflow Version:** ${ev.airflow?.api?.version ?? 'not read'}  `);
  p(`**Target:** ${targetLine(ev)}  `);
  p(
    `**Run:** ${code(status.workflowId)} (plan ${status.planName}, started by ${status.startedBy})`,
    '',
    '---',
    '',
  );

  if (!a) {
    p('## Not assessed', '', `The run ended ${status.outcome ?? 'before an outcome'}: ${status.details}`, '');
    for (const s of status.steps.filter((x) => x.status === 'failed')) p(`- ${s.step}: ${s.summary}`);
    return finish(out);
  }

  p('## Executive Summary', '', `### Overall Status: ${VERDICT_MARK[a.verdict]}`, '');
  p(...plotLines(statusGridPlot(a)));
  p(
    ...mdTable(
      ['Component', 'Status', 'Details'],
      a.components.map((c) => [`**${c.component}**`, STATE_MARK[c.state], c.details]),
    ),
    '',
  );
  p(
    `**Critical Issues:** ${a.counts.critical}  `,
    `**Warnings:** ${a.counts.warnings}  `,
    `**Recommendations:** ${a.counts.recommendations}`,
    '',
    '---',
    '',
  );

  let n = 0;
  const section = (title: string) => {
    n += 1;
    p(`## ${n}. ${title}`, '');
  };

  if (ev.target?.source === 'kubernetes') {
    section('Pod Status Analysis');
    podAnalysis(ev.target, a, when, p);
  } else if (ev.target?.source === 'local') {
    section('Process Status');
    processAnalysis(ev.target, p);
  }

  const critical = a.findings.filter((f) => f.severity === 'critical');
  const warnings = a.findings.filter((f) => f.severity === 'warning');
  section('Critical Issues');
  if (critical.length === 0) p('None.', '');
  critical.forEach((f, i) => issue(f, i + 1, '❌ CRITICAL', p));

  section('Warnings and Configuration Issues');
  if (ev.target?.source === 'kubernetes' && ev.target.values) chartValues(ev.target, p);
  if (warnings.length === 0) p('No warnings.', '');
  warnings.forEach((f, i) => issue(f, i + 1, '⚠️ WARNING', p));

  section('DAG Visibility');
  dagVisibility(ev.airflow, p);

  section("Airflow's Own Health");
  airflowHealth(ev.airflow, p);

  section('Recommendations');
  recommendations(a.recommendations, p);

  const notes = [...(ev.target?.notes ?? []), ...(ev.airflow?.api?.notes ?? [])];
  if (notes.length > 0) {
    section('What Could Not Be Read');
    for (const x of notes) p(`- ${x}`);
    p('');
  }
  return finish(out);
}

function finish(out: string[]): string {
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

function targetLine(ev: AssessmentEvidence): string {
  const t = ev.target;
  if (t?.source === 'kubernetes') return `Kubernetes namespace ${code(t.namespace)}`;
  if (t?.source === 'local') return `local processes (supervisor ${t.supervisor ?? 'unknown'})`;
  return 'not read';
}

function podLine(pod: PodSnapshot, when: string): string[] {
  const total = pod.containers.length;
  const ready = pod.containers.filter((c) => c.ready).length;
  const age =
    pod.createdAt && when
      ? formatAge(Math.max(0, Math.round((Date.parse(when) - Date.parse(pod.createdAt)) / 1000)))
      : '?';
  return [
    `   - Status: ${pod.status} (${ready}/${total})`,
    `   - Node: ${pod.node ?? 'not scheduled'}`,
    `   - Age: ${age}`,
    `   - Component: ${pod.component ?? 'not a plan component'}`,
    ...(pod.claims.length ? [`   - Volumes: ${pod.claims.join(', ')}`] : []),
  ];
}

function podAnalysis(cluster: ClusterSnapshot, a: Assessment, when: string, p: Put): void {
  if (cluster.error !== null || cluster.namespaceExists === false) {
    p(cluster.error ?? `Namespace ${cluster.namespace} does not exist.`, '');
    return;
  }
  const running = cluster.pods.filter((x) => x.ready);
  const stuck = cluster.pods.filter((x) => !x.ready);
  const total = cluster.pods.length;
  p(`### Running Pods (${running.length}/${total})`, '');
  running.forEach((pod, i) => {
    const flagged = a.findings.filter((f) => f.evidence.some((e) => e.startsWith(`pod ${pod.name}:`)));
    p(
      `${i + 1}. **${pod.name}**`,
      ...podLine(pod, when),
      `   - **Assessment:** ${flagged.length ? `⚠️ ${flagged.map((f) => f.title).join('; ')}` : '✅ Healthy'}`,
      '',
    );
  });
  if (running.length === 0) p('None.', '');
  p(`### Failed/Stuck Pods (${stuck.length}/${total})`, '');
  stuck.forEach((pod, i) => {
    const f = a.findings.find((x) => x.evidence.some((e) => e.startsWith(`pod ${pod.name}:`)));
    p(
      `${i + 1}. **${pod.name}** ❌`,
      ...podLine(pod, when),
      ...(f
        ? [
            `   - **Issue:** ${f.rootCause}`,
            `   - **Impact:** ${f.impact}`,
            `   - **Severity:** ${f.severity.toUpperCase()}`,
          ]
        : []),
      '',
    );
  });
  if (stuck.length === 0) p('None.', '');
}

function processAnalysis(t: ProcessSnapshot, p: Put): void {
  if (t.error !== null) {
    p(t.error, '');
    return;
  }
  p(
    ...mdTable(
      ['Component', 'Running', 'PID', 'Started'],
      t.components.map((c) => [c.name, c.running ? '✅ yes' : '❌ no', c.pid, c.startedAt]),
    ),
    '',
  );
}

function issue(f: Finding, i: number, mark: string, p: Put): void {
  p(
    `### Issue #${i}: ${f.title} ${mark}`,
    '',
    `**Component:** ${f.component}`,
    '',
    '**Evidence:**',
    '```',
    ...f.evidence,
    '```',
    '',
    `**Root Cause:** ${f.rootCause}`,
    '',
    `**Impact:** ${f.impact}`,
    '',
    `**Resolution Required:** ${f.resolution}`,
    '',
  );
}

function chartValues(cluster: ClusterSnapshot, p: Put): void {
  const v = cluster.values;
  if (!v) return;
  const d = v.dagsPersistence;
  p(
    `### Helm Configuration (${code(v.file)})`,
    '',
    '```yaml',
    'dags:',
    '  persistence:',
    `    enabled: ${d?.enabled ?? false}`,
    ...(d?.accessMode ? [`    accessMode: ${d.accessMode}`] : []),
    ...(d?.existingClaim ? [`    existingClaim: ${d.existingClaim}`] : []),
    '  gitSync:',
    `    enabled: ${v.gitSyncEnabled}`,
    '```',
    '',
  );
}

function dagVisibility(airflow: AirflowSnapshot | null, p: Put): void {
  const v = airflow?.db?.visibility;
  if (!v) p(`Not read: ${airflow?.dbError ?? 'the metadata DB was not inspected'}.`, '');
  else
    p(
      ...mdTable(
        ['Measure', 'Value', 'Source'],
        [
          ['DAGs serialized', v.serializedDags, 'SELECT count(DISTINCT dag_id) FROM serialized_dag'],
          ['DAGs active', v.activeDags, 'dag rows the dag processor still sees'],
          ['DAG files', v.dagFiles, 'distinct fileloc of the active DAGs'],
          ['Paused', v.pausedDags, 'active DAGs with is_paused'],
        ],
        ['l', 'r', 'l'],
      ),
      '',
    );
  const api = airflow?.api;
  if (api?.importErrors)
    p(
      `**Import errors:** ${api.importErrors.length}`,
      ...api.importErrors.slice(0, 10).map((e) => `- ${code(e.file)}: ${e.error}`),
      '',
    );
  if (api?.dagWarnings)
    p(
      `**DAG warnings:** ${api.dagWarnings.length}`,
      ...api.dagWarnings.slice(0, 10).map((w) => `- ${w.dagId} (${w.type}): ${w.message}`),
      '',
    );
}

function airflowHealth(airflow: AirflowSnapshot | null, p: Put): void {
  const api = airflow?.api;
  if (!api) p('The plan names no airflow.api: the health endpoint was not read.', '');
  else if (api.error !== null) p(`${api.url}: ${api.error}`, '');
  else if (api.health)
    p(
      `Health endpoint of ${api.url} (Airflow ${api.version ?? '?'}):`,
      '',
      ...mdTable(
        ['Job', 'Status', 'Latest heartbeat'],
        Object.entries(api.health).map(([k, h]) => [k, h.status ?? 'null (never ran)', h.latestHeartbeat]),
      ),
      '',
    );
  const jobs = airflow?.db?.jobs ?? [];
  if (jobs.length > 0)
    p(
      'Jobs the metadata DB says are running (the health endpoint reads only the newest of each type):',
      '',
      ...mdTable(
        ['Job', 'Host', 'Last heartbeat'],
        jobs.map((j) => [j.jobType, j.hostname, `${formatAge(j.heartbeatAgeSeconds)} ago`]),
      ),
      '',
    );
  if (airflow?.db?.revision) p(`Metadata DB schema revision: ${code(airflow.db.revision)}`, '');
}

const PRIORITY: Record<Recommendation['priority'], string> = {
  1: 'Immediate Actions (Priority 1) 🔴',
  2: 'Short-Term Actions (Priority 2) 🟡',
  3: 'Long-Term Actions (Priority 3) 🟢',
};

function recommendations(recs: Recommendation[], p: Put): void {
  if (recs.length === 0) {
    p('None: nothing found that needs action.', '');
    return;
  }
  let i = 0;
  for (const priority of [1, 2, 3] as const) {
    const group = recs.filter((r) => r.priority === priority);
    if (group.length === 0) continue;
    p(`### ${PRIORITY[priority]}`, '');
    for (const r of group) {
      i += 1;
      p(`${i}. **${r.title}** (for ${r.because.join(', ')})`, ...r.steps.map((s) => `   - ${s}`), '');
    }
  }
}
