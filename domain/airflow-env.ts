/**
 * How Airflow maps `[section] key` to an environment variable, and the lint that
 * catches spellings Airflow will never read.
 *
 * Airflow builds the name as AIRFLOW__ + section.replace('.', '_').upper() + __ +
 * key.upper() (airflow.configuration._env_var_name). A variable spelled
 * AIRFLOW__COMMON.IO__... sits in the pod env but conf.get never looks for it:
 * the footgun that broke the reference cut-over.
 */
import type { ChangeStage, LintFinding } from './evidence.js';

export const XCOM_OBJECT_STORAGE_BACKEND =
  'airflow.providers.common.io.xcom.backend.XComObjectStorageBackend';

export function airflowEnvVarName(section: string, key: string): string {
  return `AIRFLOW__${section.replace(/\./g, '_').toUpperCase()}__${key.toUpperCase()}`;
}

/** The four settings of the XCom flip, as [section, key, value]. */
export function xcomSettings(opts: {
  path: string;
  thresholdBytes: number;
  compression: string;
}): [section: string, key: string, value: string][] {
  return [
    ['core', 'xcom_backend', XCOM_OBJECT_STORAGE_BACKEND],
    ['common.io', 'xcom_objectstorage_path', opts.path],
    ['common.io', 'xcom_objectstorage_threshold', String(opts.thresholdBytes)],
    ['common.io', 'xcom_objectstorage_compression', opts.compression],
  ];
}

export function renderStage(
  label: string,
  opts: { path: string; thresholdBytes: number; compression: string },
): ChangeStage {
  const env: Record<string, string> = {};
  for (const [section, key, value] of xcomSettings(opts)) env[airflowEnvVarName(section, key)] = value;
  return { label, thresholdBytes: opts.thresholdBytes, env };
}

/**
 * The stage as the reference incident deployed it: `[common.io]` keys spelled with the dotted
 * section (AIRFLOW__COMMON.IO__...), present in the env and never read. Fault injection only.
 */
export function withDottedSectionSpelling(stage: ChangeStage): ChangeStage {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(stage.env))
    env[k.replace(/^AIRFLOW__COMMON_IO__/, 'AIRFLOW__COMMON.IO__')] = v;
  return { ...stage, env };
}

const AIRFLOW_VAR = /^AIRFLOW__(.+?)__(.+)$/i;

/** Flags every AIRFLOW__ variable whose spelling Airflow's config lookup cannot match. */
export function lintAirflowEnv(names: Iterable<string>): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const variable of names) {
    if (!variable.toUpperCase().startsWith('AIRFLOW__')) continue;
    const m = AIRFLOW_VAR.exec(variable);
    if (!m || !m[1] || !m[2]) {
      findings.push({ variable, problem: 'not of the form AIRFLOW__<SECTION>__<KEY>' });
      continue;
    }
    const [, section, key] = m;
    if (section.includes('.')) {
      const fixed = `AIRFLOW__${section.replace(/\./g, '_')}__${key}`;
      findings.push({
        variable,
        problem: `section "${section}" contains a dot; Airflow replaces '.' with '_' when it looks up env vars, so this variable is never read`,
        suggestion: fixed.toUpperCase(),
      });
      continue;
    }
    if (variable !== variable.toUpperCase()) {
      findings.push({
        variable,
        problem: 'Airflow only reads upper-case AIRFLOW__ variables',
        suggestion: variable.toUpperCase(),
      });
      continue;
    }
    if (!/^[A-Z0-9_]+$/.test(section) || !/^[A-Z0-9_]+$/.test(key)) {
      findings.push({ variable, problem: 'section and key may only hold A-Z, 0-9 and _' });
    }
  }
  return findings;
}
