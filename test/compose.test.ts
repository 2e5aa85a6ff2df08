/**
 * No Docker engine runs here, so docker-compose.yaml is checked two ways:
 *
 * - by a real compose validator: Debian's docker-compose (1.29.2) validates the file against the
 *   compose spec's JSON schema it bundles (`config -q`, no daemon), and a copy with a deliberate
 *   error must be rejected, so a passing file means something. `.ci/run` installs it; when it is
 *   missing these tests fail, they never skip.
 * - against the code: what can drift between the stack and the project (the search attributes the
 *   workflow sets, the worker and supervisor command lines, the plan for the stack and the env vars
 *   it names, the env file airflow-init writes, the bucket, ports, images).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parse, parseDocument } from 'yaml';
import { parseEnvFile } from '../adapters/env-file-change.js';
import { loadPlan } from '../domain/plan-file.js';
import { SEARCH_ATTRIBUTES } from '../workflows/engine/search-attributes.js';
import { REPO_ROOT } from './support/plans.js';

interface Service {
  image?: string;
  build?: string | { context?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] };
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yaml');
const compose = parse(readFileSync(COMPOSE_FILE, 'utf8')) as Compose;
const services = compose.services;
const loaded = await loadPlan(path.join(REPO_ROOT, 'plans/compose.yaml'));
if (loaded.kind !== 'XComBackendCutover') throw new Error('plans/compose.yaml is an XCom flip plan');
const plan = loaded;

function service(name: string): Service {
  const s = services[name];
  assert.ok(s, `docker-compose.yaml has a ${name} service`);
  return s;
}

/** The variables the file interpolates with defaults (`${VAR:-default}`): unset, so the defaults apply. */
const INTERPOLATED = ['CUTOVER_AIRFLOW_PASSWORD', 'MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD'];

/** Runs Debian's docker-compose on FILE; fails (never skips) when it is not installed. */
function dockerCompose(
  file: string,
  args: string[],
): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !INTERPOLATED.includes(k))),
    COMPOSE_PROJECT_NAME: 'cutover-test',
  };
  const r = spawnSync('docker-compose', ['-f', file, ...args], {
    env,
    cwd: path.dirname(file),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    assert.fail(
      code === 'ENOENT'
        ? "docker-compose is not installed: it validates docker-compose.yaml. `.ci/run` installs Debian's docker-compose package (apt-get install --no-install-recommends docker-compose)"
        : `docker-compose could not run: ${r.error.message}`,
    );
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let resolvedCompose: Compose | undefined;
/** The file as docker-compose resolves it (variables interpolated with their defaults). */
function resolved(): Compose {
  if (!resolvedCompose) {
    const r = dockerCompose(COMPOSE_FILE, ['config']);
    assert.equal(r.status, 0, r.stderr);
    resolvedCompose = parse(r.stdout) as Compose;
  }
  return resolvedCompose;
}

/** The value following FLAG in a command line. */
function flag(command: string[] | undefined, name: string): string | undefined {
  const args = command ?? [];
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

// ---- the real validator ------------------------------------------------------------------------

test('docker-compose.yaml passes the compose validator (docker-compose config -q), every variable has a default', () => {
  const r = dockerCompose(COMPOSE_FILE, ['config', '-q']);
  assert.equal(r.status, 0, `docker-compose config -q rejected the file:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /variable is not set/i, r.stderr);
});

test('negative controls: the validator rejects a copy with an unknown service key, an unknown condition, a top-level name', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-compose-'));
  try {
    const broken = (mutate: (doc: ReturnType<typeof parseDocument>) => void): string => {
      const doc = parseDocument(readFileSync(COMPOSE_FILE, 'utf8'));
      mutate(doc);
      const file = path.join(dir, 'docker-compose.yaml');
      writeFileSync(file, doc.toString());
      return file;
    };

    let r = dockerCompose(
      broken((doc) => doc.setIn(['services', 'worker', 'restart_polcy'], 'always')),
      ['config', '-q'],
    );
    assert.notEqual(r.status, 0, 'an unknown key in a service must be rejected');
    assert.match(r.stderr, /restart_polcy/);

    r = dockerCompose(
      broken((doc) =>
        doc.setIn(['services', 'airflow', 'depends_on', 'airflow-init', 'condition'], 'service_done'),
      ),
      ['config', '-q'],
    );
    assert.notEqual(r.status, 0, 'an unknown depends_on condition must be rejected');
    assert.match(r.stderr, /service_done/);

    r = dockerCompose(
      broken((doc) => doc.set('name', 'cutover')),
      ['config', '-q'],
    );
    assert.notEqual(r.status, 0, 'docker-compose 1.29 rejects a top-level name: the file must not have one');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- consistency with the code -----------------------------------------------------------------

test('the Temporal service registers exactly the search attributes the workflow sets', () => {
  const flags = (service('temporal').command ?? [])
    .filter((a) => a.startsWith('--search-attribute='))
    .map((a) => a.slice('--search-attribute='.length));
  const cliType = (t: string) => ({ INT: 'Int', KEYWORD_LIST: 'KeywordList' })[t] ?? 'Keyword';
  assert.deepEqual(flags.sort(), SEARCH_ATTRIBUTES.map((k) => `${k.name}=${cliType(k.type)}`).sort());
});

test('the worker service runs the compiled worker entry point against the temporal service', () => {
  const worker = service('worker');
  assert.ok(worker.build, 'built from this repository');
  assert.ok(existsSync(path.join(REPO_ROOT, 'Dockerfile')));
  const entry = worker.command?.[1] ?? '';
  assert.equal(entry, 'dist/worker/main.js');
  assert.ok(existsSync(path.join(REPO_ROOT, entry)), `${entry} is built by npm run build`);
  assert.equal(worker.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
});

test('airflow-init, airflow and worker run one image built from this repository, with the shared volume at /cutover', () => {
  const names = ['airflow-init', 'airflow', 'worker'];
  const images = new Set(names.map((n) => service(n).image));
  assert.equal(images.size, 1, `one image for ${names.join(', ')}: ${[...images].join(', ')}`);
  for (const n of names) {
    assert.equal(service(n).build, '.', `${n} is built from the repository's Dockerfile`);
    assert.ok(
      service(n).volumes?.includes('cutover-shared:/cutover'),
      `${n} mounts cutover-shared at /cutover`,
    );
  }
  assert.ok(compose.volumes && 'cutover-shared' in compose.volumes, 'cutover-shared is a named volume');
  assert.equal(path.posix.dirname(plan.target.kind === 'local' ? plan.target.envFile : ''), '/cutover');
});

test('plans/compose.yaml is a valid local plan whose env vars the worker service sets', () => {
  assert.equal(plan.target.kind, 'local');
  assert.equal(plan.change.mode, 'env-file');
  const env = service('worker').environment ?? {};
  const named = [
    plan.airflow.metadataDb.access === 'direct' ? plan.airflow.metadataDb.urlEnv : undefined,
    plan.airflow.api?.usernameEnv,
    plan.airflow.api?.passwordEnv,
  ];
  assert.ok(
    named.every((n) => n !== undefined),
    'the plan names a direct metadata DB URL and REST API credentials',
  );
  for (const name of named as string[]) {
    assert.ok(env[name] !== undefined && env[name] !== '', `the worker service sets ${name}`);
  }
});

test('the metadata DB URLs of the worker and airflow-init name the postgres service and its credentials', () => {
  const pgEnv = service('postgres').environment ?? {};
  const urlEnv = plan.airflow.metadataDb.access === 'direct' ? plan.airflow.metadataDb.urlEnv : '';
  const workerUrl = new URL(service('worker').environment?.[urlEnv] ?? '');
  const initUrl = new URL(service('airflow-init').environment?.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?? '');
  assert.equal(initUrl.protocol, 'postgresql+psycopg2:', 'Airflow speaks psycopg2 (the venv has no asyncpg)');
  for (const u of [workerUrl, initUrl]) {
    assert.equal(u.hostname, 'postgres');
    assert.equal(u.port, '5432');
    assert.equal(u.username, pgEnv.POSTGRES_USER);
    assert.equal(u.password, pgEnv.POSTGRES_PASSWORD);
    assert.equal(u.pathname, `/${pgEnv.POSTGRES_DB}`);
  }
});

test('the airflow service runs the supervisor with the plan env file, components and ports', () => {
  const airflow = service('airflow');
  const cmd = airflow.command ?? [];
  assert.deepEqual(cmd.slice(0, 2), ['node', 'dist/local/supervisor-main.js']);
  assert.equal(flag(cmd, '--dags'), '/app/dags');
  assert.equal(flag(cmd, '--control-host'), '0.0.0.0');
  assert.equal(flag(cmd, '--api-host'), '0.0.0.0', 'the worker and the host reach the REST API');
  assert.equal(flag(cmd, '--username'), 'admin');
  assert.equal(flag(cmd, '--password-env'), 'CUTOVER_AIRFLOW_PASSWORD');
  assert.ok(plan.target.kind === 'local');
  assert.equal(flag(cmd, '--env-file'), plan.target.envFile, "the supervisor reads the plan's env file");
  assert.equal(
    service('airflow-init').environment?.CUTOVER_ENV_FILE,
    plan.target.envFile,
    'airflow-init writes the env file the plan names',
  );
  assert.deepEqual(
    flag(cmd, '--components')?.split(',').sort(),
    plan.target.components.map((c) => c.name).sort(),
    'the supervisor runs the components the plan lists',
  );

  const controlPort = flag(cmd, '--control-port');
  const apiPort = flag(cmd, '--api-port');
  assert.ok(plan.target.supervisor && plan.airflow.api, 'the plan names the supervisor and the REST API');
  const supervisor = new URL(plan.target.supervisor);
  const api = new URL(plan.airflow.api.url);
  assert.equal(supervisor.hostname, 'airflow', 'target.supervisor is the airflow service');
  assert.equal(supervisor.port, controlPort, 'target.supervisor is its --control-port');
  assert.equal(api.hostname, 'airflow', 'airflow.api.url is the airflow service');
  assert.equal(api.port, apiPort, 'airflow.api.url is its --api-port');
  assert.ok(
    (airflow.ports ?? []).some((p) => p.split(':').at(-1) === apiPort),
    `the REST API port ${apiPort} is published`,
  );
  assert.ok(
    !(airflow.ports ?? []).some((p) => p.split(':').at(-1) === controlPort),
    'the control API (restarts on request) is not published outside the stack',
  );
  assert.deepEqual(airflow.healthcheck?.test, [
    'CMD',
    'curl',
    '-fsS',
    `http://localhost:${controlPort}/health`,
  ]);
  assert.ok(
    existsSync(path.join(REPO_ROOT, 'local/supervisor-main.ts')),
    'the supervisor entry point exists',
  );
});

test('the worker and the supervisor share the REST API user and password', () => {
  const files = resolved().services;
  const workerEnv = files.worker?.environment ?? {};
  const airflowCmd = files.airflow?.command;
  const passwordVar = flag(airflowCmd, '--password-env') ?? '';
  assert.ok(plan.airflow.api);
  assert.equal(workerEnv[plan.airflow.api.usernameEnv], flag(airflowCmd, '--username'));
  assert.ok(workerEnv[plan.airflow.api.passwordEnv], 'a password (the default) reaches the worker');
  assert.equal(workerEnv[plan.airflow.api.passwordEnv], files.airflow?.environment?.[passwordVar]);
});

test('MinIO: one set of credentials everywhere, and minio-init creates the bucket of the plan xcom.path', () => {
  const files = resolved().services;
  const user = files.minio?.environment?.MINIO_ROOT_USER;
  const password = files.minio?.environment?.MINIO_ROOT_PASSWORD;
  assert.ok(user && password && password.length >= 8, 'MinIO wants a root password of 8 characters or more');
  assert.equal(files['minio-init']?.environment?.MINIO_ROOT_USER, user);
  assert.equal(files['minio-init']?.environment?.MINIO_ROOT_PASSWORD, password);
  for (const s of ['airflow-init', 'worker']) {
    assert.equal(files[s]?.environment?.AWS_ACCESS_KEY_ID, user, `${s}'s AWS_ACCESS_KEY_ID`);
    assert.equal(files[s]?.environment?.AWS_SECRET_ACCESS_KEY, password, `${s}'s AWS_SECRET_ACCESS_KEY`);
  }
  assert.equal(service('worker').environment?.AWS_ENDPOINT_URL, 'http://minio:9000');
  assert.equal(service('airflow-init').environment?.CUTOVER_S3_ENDPOINT, 'http://minio:9000');

  const script = (service('minio-init').command ?? []).join('\n');
  const created = [...script.matchAll(/mc mb (?:--ignore-existing )?\S+?\/([a-z0-9.-]+)\s*$/gm)].map(
    (m) => m[1],
  );
  const bucket = /^s3:\/\/(?:[^@/]+@)?([^/]+)/.exec(plan.spec.xcom.path)?.[1];
  assert.ok(bucket, `a bucket in ${plan.spec.xcom.path}`);
  assert.deepEqual(created, [bucket], `minio-init creates ${bucket}`);
  assert.match(script, /http:\/\/minio:9000/);
});

test('the env file airflow-init writes: the Airflow settings, no XCom setting, never overwritten', () => {
  const init = service('airflow-init');
  assert.deepEqual(init.command, ['bash', 'docker/airflow-init.sh']);
  const initScript = readFileSync(path.join(REPO_ROOT, 'docker/airflow-init.sh'), 'utf8');
  assert.match(initScript, /airflow" db migrate/);
  assert.match(initScript, /docker\/write_airflow_env\.py/);
  const resolvedEnv = resolved().services['airflow-init']?.environment ?? {};
  assert.deepEqual(
    Object.keys(resolvedEnv).filter((k) => /xcom/i.test(k)),
    [],
    'airflow-init itself is given no XCom setting',
  );

  // The writer, run for real with the service's (resolved) environment, into a temp dir.
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-envfile-'));
  try {
    const file = path.join(dir, 'airflow.env');
    const write = () =>
      spawnSync('python3', [path.join(REPO_ROOT, 'docker/write_airflow_env.py')], {
        env: { PATH: process.env.PATH, ...resolvedEnv, CUTOVER_ENV_FILE: file },
        encoding: 'utf8',
      });
    let r = write();
    assert.equal(r.status, 0, r.stderr);
    const vars = Object.fromEntries(parseEnvFile(readFileSync(file, 'utf8')));
    assert.deepEqual(
      Object.keys(vars).filter((k) => /xcom/i.test(k)),
      [],
      'the cut-over adds the XCom settings',
    );
    assert.equal(
      vars.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN,
      init.environment?.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN,
    );
    assert.equal(vars.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC, '');
    assert.equal(vars.AIRFLOW_HOME, '/opt/airflow');
    assert.equal(vars.AIRFLOW__CORE__LOAD_EXAMPLES, 'False');
    assert.equal(vars.AIRFLOW__CORE__EXECUTOR, 'LocalExecutor');
    assert.equal(vars.AIRFLOW__CORE__DAGS_FOLDER, flag(service('airflow').command, '--dags'));
    const connId = /^s3:\/\/([^@/]+)@/.exec(plan.spec.xcom.path)?.[1] ?? '';
    const conn = JSON.parse(vars[`AIRFLOW_CONN_${connId.toUpperCase()}`] ?? '{}') as {
      conn_type?: string;
      login?: string;
      password?: string;
      extra?: { endpoint_url?: string; region_name?: string };
    };
    assert.equal(conn.conn_type, 'aws', `the ${connId} connection of xcom.path`);
    assert.equal(conn.login, resolvedEnv.AWS_ACCESS_KEY_ID);
    assert.equal(conn.password, resolvedEnv.AWS_SECRET_ACCESS_KEY);
    assert.equal(conn.extra?.endpoint_url, 'http://minio:9000');
    assert.equal(conn.extra?.region_name, 'us-east-1');

    // A cut-over's edit survives the next `docker compose up` (airflow-init runs again).
    const edited = `${readFileSync(file, 'utf8')}AIRFLOW__CORE__XCOM_BACKEND=edited.by.cutover\n`;
    writeFileSync(file, edited);
    r = write();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(file, 'utf8'), edited, 'an existing env file is kept as it is');
    assert.deepEqual(readdirSync(dir), ['airflow.env'], 'no temp file left behind');

    // A password with characters an env file would mangle reads back exactly.
    rmSync(file);
    const tricky = 'p"w d#$x\\y=z';
    r = spawnSync('python3', [path.join(REPO_ROOT, 'docker/write_airflow_env.py')], {
      env: { PATH: process.env.PATH, ...resolvedEnv, CUTOVER_ENV_FILE: file, AWS_SECRET_ACCESS_KEY: tricky },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const back = parseEnvFile(readFileSync(file, 'utf8'));
    assert.equal(back.get('AWS_SECRET_ACCESS_KEY'), tricky);
    assert.equal(
      (JSON.parse(back.get('AIRFLOW_CONN_AWS_DEFAULT') ?? '{}') as { password?: string }).password,
      tricky,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the validation DAG of the plan is in dags/, which the image ships at /app/dags', () => {
  const dags = readdirSync(path.join(REPO_ROOT, 'dags')).filter((f) => f.endsWith('.py'));
  const defined = dags.some((f) =>
    readFileSync(path.join(REPO_ROOT, 'dags', f), 'utf8').includes(`dag_id="${plan.spec.validation.dagId}"`),
  );
  assert.ok(defined, `a file in dags/ defines ${plan.spec.validation.dagId}`);
  const ignored = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const p of ['node_modules', '.venv', 'dist', '.cutover', '.git']) {
    assert.ok(ignored.includes(p), `.dockerignore keeps ${p} out of the build context`);
  }
  assert.ok(!ignored.some((p) => p === 'dags' || p.startsWith('dags/')), 'dags/ is in the build context');
  assert.match(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'), /^WORKDIR \/app$/m);
});

test('every depends_on names a service of the file', () => {
  for (const [name, s] of Object.entries(services)) {
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const d of deps) assert.ok(d in services, `${name} depends on ${d}, which is not a service`);
  }
});

test('every image is pinned to a version (no latest, no bare name), the Dockerfile base too', () => {
  const pinned = (ref: string) => {
    const lastPart = ref.split('/').at(-1) ?? '';
    const tag = lastPart.includes('@') ? 'digest' : lastPart.split(':')[1];
    return tag !== undefined && tag !== '' && tag !== 'latest';
  };
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.image, `${name} names its image`);
    assert.ok(pinned(s.image), `${name}: ${s.image} is pinned`);
  }
  const froms = [...readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM\s+(\S+)/gm)].map(
    (m) => m[1] ?? '',
  );
  assert.ok(froms.length > 0);
  for (const f of froms) assert.ok(pinned(f), `Dockerfile: FROM ${f} is pinned`);
});
