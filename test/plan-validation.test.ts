/**
 * Plan files: the examples parse, mistakes get field-named messages (from the
 * library and from `cutover validate` / `cutover start`), and the JSON Schema
 * shipped in schema/ is the one the code generates.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { main } from '../client/cli.js';
import { planJsonSchema, schemaFileName } from '../client/commands/validate-run.js';
import { loadPlan, parsePlan, PlanError, planDigest } from '../domain/plan-file.js';
import type { PlanInput } from '../domain/plan.js';
import { RUNBOOKS, workflowIdShown } from '../domain/runbooks.js';
import type { UpgradePlanInput } from '../domain/upgrade/plan.js';
import { referencePlanInput, REPO_ROOT } from './support/plans.js';
import { freePort } from './support/temporal.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-plans-'));

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  });
  return { code, stdout, stderr };
}

/** The reference plan with one mistake, as the problems parsePlan reports. */
function problemsOf(patch: (raw: PlanInput & Record<string, unknown>) => void): string[] {
  const raw = referencePlanInput() as PlanInput & Record<string, unknown>;
  patch(raw);
  try {
    parsePlan(stringify(raw), 'mistake.yaml');
  } catch (err) {
    assert.ok(err instanceof PlanError, String(err));
    assert.equal(err.file, 'mistake.yaml');
    return err.problems;
  }
  assert.fail('the plan was accepted');
}

function writePlan(name: string, patch: (raw: PlanInput & Record<string, unknown>) => void): string {
  const raw = referencePlanInput() as PlanInput & Record<string, unknown>;
  patch(raw);
  const file = path.join(dir, name);
  writeFileSync(file, stringify(raw));
  return file;
}

void test('every example plan parses and validates', async () => {
  const files = readdirSync(path.join(REPO_ROOT, 'plans')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('reference-dossier.yaml') && files.includes('local.yaml'));
  for (const f of files) {
    const file = path.join(REPO_ROOT, 'plans', f);
    const plan = await loadPlan(file);
    const r = await cli(['validate', file]);
    assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    assert.ok(r.stdout.includes(`workflow id:  ${workflowIdShown(plan)}`), r.stdout);
    assert.ok(r.stdout.includes(`digest:       ${planDigest(plan)}`), r.stdout);
  }
  const json = await cli(['validate', path.join(REPO_ROOT, 'plans', 'reference-dossier.yaml'), '--json']);
  const out = JSON.parse(json.stdout) as {
    workflowId: string;
    target: string;
    plan: { rollout: { timeout: string } };
  };
  assert.equal(out.workflowId, 'cutover/k8s-scaleway-prod-cvntrade-airflow/xcom-flip-prod');
  assert.equal(out.target, 'k8s-scaleway-prod-cvntrade-airflow');
  assert.equal(out.plan.rollout.timeout, '15m', 'the normalised plan is printed');
});

void test('formatting and comments do not change the digest; a value does', async () => {
  const a = await loadPlan(path.join(REPO_ROOT, 'plans', 'reference-dossier.yaml'));
  const b = parsePlan(stringify(referencePlanInput()));
  assert.equal(planDigest(a), planDigest(b));
  const c = parsePlan(stringify({ ...referencePlanInput(), description: 'another words' }));
  assert.notEqual(planDigest(a), planDigest(c));
});

void test('an unknown field is named with where it sits', () => {
  const problems = problemsOf((p) => {
    (p.spec.xcom as Record<string, unknown>).tresholdBytes = 1_000_000;
    p.rollback = true;
  });
  assert.deepEqual(problems.sort(), [
    '(plan): unknown field(s) rollback',
    'spec.xcom: unknown field(s) tresholdBytes',
  ]);
});

void test('a wrong type for xcom.threshold.bytes', () => {
  const problems = problemsOf((p) => {
    p.spec.xcom.threshold = { strategy: 'fixed', bytes: '1MB' as unknown as number };
  });
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', /^spec\.xcom\.threshold\.bytes: .*expected number, received string/);
});

void test('a dotted name (Airflow section style) where a DNS-style name is required', () => {
  const problems = problemsOf((p) => {
    p.name = 'xcom.flip.prod';
    const last = p.target.components[3];
    assert.equal(last?.name, 'dag-processor');
    last.name = 'dag.processor';
  });
  assert.deepEqual(problems.sort(), [
    'name: use lowercase letters, digits and dashes (max 63)',
    'target.components[3].name: use lowercase letters, digits and dashes (max 63)',
  ]);
});

void test('a ramp that does not start above a fixed threshold', () => {
  const problems = problemsOf((p) => {
    p.spec.xcom.threshold = { strategy: 'fixed', bytes: 1_600_000 };
    p.spec.xcom.ramp = { startBytes: 1_600_000 };
  });
  assert.deepEqual(problems, [
    'spec.xcom.ramp.startBytes: must be above the target threshold (1600000) so the ramp starts with zero offload',
  ]);
});

void test('a secret value where the NAME of an environment variable belongs', () => {
  const problems = problemsOf((p) => {
    p.airflow.metadataDb = { access: 'direct', urlEnv: 'postgres://airflow:hunter2@db:5432/airflow' };
  });
  assert.deepEqual(problems, [
    'airflow.metadataDb.urlEnv: must be the NAME of an environment variable on the worker, not its value',
  ]);
});

void test('cutover validate prints every problem, field by field, and exits 2', async () => {
  const file = writePlan('two-mistakes.yaml', (p) => {
    p.name = 'Xcom_Flip';
    p.spec.xcom.threshold = { strategy: 'fixed', bytes: -1 };
  });
  const r = await cli(['validate', file]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines[0], `cutover: ${file}: invalid plan (2 problems)`);
  assert.deepEqual(lines.slice(1).sort(), [
    '  - name: use lowercase letters, digits and dashes (max 63)',
    '  - spec.xcom.threshold.bytes: Too small: expected number to be >=0',
  ]);

  const yamlError = path.join(dir, 'broken.yaml');
  writeFileSync(yamlError, 'name: [unclosed\n');
  const broken = await cli(['validate', yamlError]);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /invalid plan \(1 problem\)\n {2}- YAML: /);
});

void test('cutover start checks the plan before it connects to anything', async () => {
  const file = writePlan('bad-url-env.yaml', (p) => {
    p.airflow.metadataDb = { access: 'direct', urlEnv: 'postgres://x' };
  });
  // No server listens here: a plan that got past validation would fail with exit 5.
  const port = await freePort();
  const r = await cli(['start', '--plan', file], {
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    CUTOVER_OPERATOR: 'alice',
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /airflow\.metadataDb\.urlEnv: must be the NAME of an environment variable/);
});

void test('an empty plan file says so', async () => {
  for (const [name, text] of [
    ['empty.yaml', ''],
    ['comments-only.yaml', '# nothing here yet\n\n'],
  ] as const) {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    const r = await cli(['validate', file]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `cutover: ${file}: invalid plan (1 problem)\n  - (plan): the plan file is empty (no YAML mapping in it)\n`,
    );
  }
});

void test('a plan too large for a workflow input is refused at validate and at start, before any connection', async () => {
  // 5 MB in one description-like field: the file bound names the size.
  const huge = writePlan('huge.yaml', (p) => {
    (p as Record<string, unknown>)['description'] = 'x'.repeat(5_000_000);
  });
  // A long text field under the file bound: the field is named.
  const long = writePlan('long-field.yaml', (p) => {
    p.approval.approvers = ['platform-oncall', 'y'.repeat(10_000)];
  });
  const port = await freePort();
  const env = { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, CUTOVER_OPERATOR: 'alice' };
  for (const args of [
    ['validate', huge],
    ['start', '--plan', huge],
  ]) {
    const r = await cli(args, env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /invalid plan \(1 problem\)\n {2}- \(plan\): the file is 5 MB; a plan is at most 256 KB\n$/,
    );
  }
  for (const args of [
    ['validate', long],
    ['start', '--plan', long],
  ]) {
    const r = await cli(args, env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /- approval\.approvers\[1\]: 10 000 characters; a text field holds at most 4 096\n$/,
    );
  }
});

void test('a local target whose env file is not an env file is refused naming the line, at validate and start', async () => {
  const notEnv = path.join(dir, 'passwd');
  writeFileSync(notEnv, '# looks fine\nroot:x:0:0:root:/root:/bin/bash\n');
  const file = path.join(dir, 'local-passwd.yaml');
  writeFileSync(
    file,
    readFileSync(path.join(REPO_ROOT, 'plans', 'local.yaml'), 'utf8').replace(
      'envFile: .cutover/demo/airflow.env',
      `envFile: ${notEnv}`,
    ),
  );
  const port = await freePort();
  for (const args of [
    ['validate', file],
    ['start', '--plan', file],
  ]) {
    const r = await cli(args, { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, CUTOVER_OPERATOR: 'alice' });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `cutover: ${file}: invalid plan (1 problem)\n  - target.envFile: ${notEnv} is not an env file: line 2 is not a comment, a blank line or KEY=VALUE\n`,
    );
  }
});

void test('schema/<kind>.schema.json is the schema the code generates for every kind (npm run schema)', async () => {
  for (const { kind } of RUNBOOKS) {
    const file = path.join('schema', schemaFileName(kind));
    const committed = readFileSync(path.join(REPO_ROOT, file), 'utf8');
    const r = await cli(['schema', '--kind', kind]);
    assert.equal(r.code, 0);
    assert.equal(committed, r.stdout, `${file} is stale: run npm run build && npm run schema`);
  }
  const schema = planJsonSchema('XComBackendCutover') as {
    properties: Record<string, unknown>;
    required: string[];
    additionalProperties: boolean;
  };
  assert.deepEqual(Object.keys(schema.properties).slice(0, 3), ['apiVersion', 'kind', 'name']);
  assert.ok(!schema.required.includes('rollout'), 'fields with defaults are optional to write');
  assert.equal(schema.additionalProperties, false);
});

void test('kind picks the runbook: an unknown or missing kind names the kinds this cutover knows', () => {
  for (const kind of ['XcomFlip', undefined]) {
    const raw: Record<string, unknown> = { ...referencePlanInput(), kind };
    if (kind === undefined) delete raw['kind'];
    assert.throws(
      () => parsePlan(stringify(raw)),
      (err: unknown) =>
        err instanceof PlanError &&
        err.problems.length === 1 &&
        /^kind: (missing|"XcomFlip"); use one of the runbooks this cutover knows: XComBackendCutover/.test(
          err.problems[0] ?? '',
        ),
    );
  }
});

void test('a plan in the layout from before the engine still works, and validate says how to move it', async () => {
  const input = referencePlanInput();
  const { spec, ...envelope } = input;
  const legacy = { ...envelope, ...spec };
  assert.equal(planDigest(parsePlan(stringify(legacy))), planDigest(parsePlan(stringify(input))));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-legacy-'));
  const file = path.join(dir, 'legacy.yaml');
  writeFileSync(file, stringify(legacy));
  const r = await cli(['validate', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /notice: .*move `xcom:`, `validation:` and `lifecycle:` under `spec:`/);
  assert.match(r.stdout, /runbook: +XComBackendCutover/);
  // Half migrated is not guessed at: fields beside spec are unknown.
  writeFileSync(file, stringify({ ...input, xcom: spec.xcom }));
  const half = await cli(['validate', file]);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /\(plan\): unknown field\(s\) xcom/);
});

void test('approval.allowedSigners: each bad key line and each approver without a key is named', () => {
  const ed = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMDeV7cXzJD8CiXWzW2zVH13fZHEJZOE7pg35t/u0aiO';
  const problems = problemsOf((p) => {
    p.approval.approvers = ['dococeven', 'platform-oncall'];
    p.approval.allowedSigners = [
      `dococeven namespaces="cutover" ${ed} dococeven@laptop`,
      `* ${ed}`,
      'platform-oncall ssh-ed25519 not-base64!',
      `platform-oncall namespaces="git" ${ed}`,
      `platform-oncall cert-authority ${ed}`,
      `platform-oncall ssh-rsa ${ed.split(' ')[1]}`,
      'platform-oncall',
    ];
  });
  assert.deepEqual(problems, [
    'approval.allowedSigners[1]: principal "*" is not a plain name: cutover matches approvers by name, so patterns (*, ?, !) and empty names are refused',
    'approval.allowedSigners[2]: the ssh-ed25519 key is not valid base64 of an SSH public key',
    'approval.allowedSigners[3]: namespaces="git" does not include "cutover": this key could never sign a cutover decision',
    "approval.allowedSigners[4]: cert-authority lines are not supported: list each approver's own key (self-approval is judged on the signing key)",
    'approval.allowedSigners[5]: the key says "ssh-rsa" but its data is a ssh-ed25519 key',
    'approval.allowedSigners[6]: expected "principal[,principal] [options] keytype base64-key [comment]"',
    'approval.approvers[1]: platform-oncall has no key in approval.allowedSigners: with signers, every approver needs one',
  ]);
  const onlyComments = problemsOf((p) => {
    p.approval.allowedSigners = ['# nobody yet'];
  });
  assert.deepEqual(onlyComments, [
    'approval.allowedSigners: lists no key: remove it to approve by name, or add one line per approver',
  ]);
});

void test('approval.allowedSigners in git format parses and changes the digest', () => {
  const ed = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMDeV7cXzJD8CiXWzW2zVH13fZHEJZOE7pg35t/u0aiO';
  const raw = referencePlanInput();
  raw.approval.allowedSigners = [
    `dococeven,platform-oncall namespaces="cutover",valid-after="20260101" ${ed} shared on-call key`,
  ];
  const plan = parsePlan(stringify(raw));
  assert.deepEqual('approval' in plan && plan.approval?.allowedSigners, raw.approval.allowedSigners);
  assert.notEqual(planDigest(plan), planDigest(parsePlan(stringify(referencePlanInput()))));
});

/** plans/airflow-upgrade.yaml with one mistake, written where `cutover validate` reads it. */
function writeUpgradePlan(name: string, patch: (raw: UpgradePlanInput) => void): string {
  const raw = parse(
    readFileSync(path.join(REPO_ROOT, 'plans', 'airflow-upgrade.yaml'), 'utf8'),
  ) as UpgradePlanInput;
  patch(raw);
  const file = path.join(dir, name);
  writeFileSync(file, stringify(raw));
  return file;
}

void test('an AirflowUpgrade plan: each mistake refused by cutover validate with its field named, exit 2', async () => {
  const cases: [string, (raw: UpgradePlanInput) => void, string][] = [
    [
      'upgrade-older.yaml',
      (p) => {
        p.spec.upgrade.toVersion = '3.1.0';
      },
      'spec.upgrade.toVersion: 3.1.0 is older than 3.2.2 (airflow.version): a downgrade is not an upgrade',
    ],
    [
      'upgrade-same.yaml',
      (p) => {
        p.spec.upgrade.toVersion = '3.2.2';
      },
      'spec.upgrade.toVersion: 3.2.2 is the release running now (airflow.version): nothing to upgrade',
    ],
    [
      'upgrade-not-xyz.yaml',
      (p) => {
        p.spec.upgrade.toVersion = '3.3';
      },
      'spec.upgrade.toVersion: an Airflow release like 3.3.2 (major.minor.patch)',
    ],
    [
      'upgrade-running-not-exact.yaml',
      (p) => {
        p.airflow.version = '3.2';
      },
      'airflow.version: an upgrade needs the exact release running now (like 3.2.2), not "3.2"',
    ],
    [
      'upgrade-no-backup.yaml',
      (p) => {
        delete (p.spec as Partial<UpgradePlanInput['spec']>).backup;
      },
      'spec.backup: ',
    ],
    [
      'upgrade-relative-dump.yaml',
      (p) => {
        p.spec.backup = { strategy: 'pg-dump', to: 'backups' };
      },
      'spec.backup.to: an absolute directory on the worker, or s3://bucket/prefix',
    ],
    [
      'upgrade-in-pod.yaml',
      (p) => {
        p.airflow.metadataDb = { access: 'in-pod', component: 'scheduler' };
      },
      'airflow.metadataDb.access: the upgrade backs up, rehearses and migrates the metadata DB from the worker',
    ],
    [
      'upgrade-no-api.yaml',
      (p) => {
        delete p.airflow.api;
      },
      'airflow.api: the upgrade proves the new release with DAG runs through the REST API',
    ],
    [
      'upgrade-kubernetes-configmap.yaml',
      (p) => {
        p.target = {
          kind: 'kubernetes',
          namespace: 'airflow',
          release: 'airflow',
          components: [{ name: 'scheduler', workload: { kind: 'Deployment', name: 'airflow-scheduler' } }],
        };
        p.change = { mode: 'configmap', configMap: 'airflow-env' };
      },
      "change.mode: an upgrade on kubernetes changes the image, which comes from the Helm chart's values",
    ],
    [
      'upgrade-kubernetes-no-workload.yaml',
      (p) => {
        p.target = {
          kind: 'kubernetes',
          namespace: 'airflow',
          release: 'airflow',
          components: [{ name: 'scheduler' }],
        };
        p.change = { mode: 'gitops', repo: '/srv/infra.git', valuesFile: 'values.yaml', location: '.' };
      },
      "target.components[0].workload: the upgrade scales scheduler's Deployment or StatefulSet to 0 and back",
    ],
    [
      'upgrade-kubernetes-major.yaml',
      (p) => {
        p.target = {
          kind: 'kubernetes',
          namespace: 'airflow',
          release: 'airflow',
          components: [{ name: 'scheduler', workload: { kind: 'Deployment', name: 'airflow-scheduler' } }],
        };
        p.change = { mode: 'gitops', repo: '/srv/infra.git', valuesFile: 'values.yaml', location: '.' };
        p.airflow.version = '2.11.2';
      },
      'spec.upgrade.toVersion: a major upgrade (2.11.2 -> 3.3.2) on kubernetes is not built',
    ],
    [
      'upgrade-duplicate-critical.yaml',
      (p) => {
        p.spec.validation = { criticalDags: ['billing_export', 'etl_hourly', 'billing_export'] };
      },
      'spec.validation.criticalDags[2]: billing_export is listed twice',
    ],
  ];
  for (const [name, patch, problem] of cases) {
    const file = writeUpgradePlan(name, patch);
    const r = await cli(['validate', file]);
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.equal(r.stdout, '', name);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(
      lines[0] ?? '',
      new RegExp(`^cutover: ${file.replace(/[.]/g, '\\.')}: invalid plan \\(\\d problems?\\)$`),
    );
    assert.ok(
      lines.slice(1).some((l) => l.startsWith(`  - ${problem}`)),
      `${name}: expected "${problem}" in\n${r.stderr}`,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${name}: a stack trace`);
  }
});

void test('cutover start refuses an upgrade to an older release before it connects to anything', async () => {
  const file = writeUpgradePlan('upgrade-downgrade-start.yaml', (p) => {
    p.spec.upgrade.toVersion = '2.11.2';
  });
  // No server listens here: a plan that got past validation would fail with exit 5.
  const port = await freePort();
  const r = await cli(['start', '--plan', file], {
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    CUTOVER_OPERATOR: 'alice',
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /- spec\.upgrade\.toVersion: 2\.11\.2 is older than 3\.2\.2 \(airflow\.version\)/);
});

void test('an upgrade to a release the package index does not have is refused at validate and start, field named', async () => {
  // PyPI itself (the index this machine installs from): 3.9.99 is no Airflow release.
  const file = writeUpgradePlan('upgrade-not-on-index.yaml', (p) => {
    p.spec.upgrade.toVersion = '3.9.99';
  });
  const validate = await cli(['validate', file]);
  assert.equal(validate.code, 2, validate.stderr);
  assert.match(
    validate.stderr,
    /- spec\.upgrade\.toVersion: Airflow 3\.9\.99 is not a release on the package index \(https:\/\/pypi\.org\/simple\/apache-airflow\/ does not list it\)/,
  );
  const port = await freePort();
  const start = await cli(['start', '--plan', file], {
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    CUTOVER_OPERATOR: 'alice',
  });
  assert.equal(start.code, 2, start.stderr);
  assert.match(start.stderr, /spec\.upgrade\.toVersion: Airflow 3\.9\.99 is not a release/);
  // The example's own release is there: validate accepts it.
  const ok = await cli(['validate', path.join(REPO_ROOT, 'plans', 'airflow-upgrade.yaml')]);
  assert.equal(ok.code, 0, ok.stderr);
});
