/**
 * `npm run kube-test-server -- [--port N] [--kubeconfig FILE] [--namespace NS] [--release R]`:
 * the Kubernetes API test server (kube-api-server.ts) with one Airflow scheduler pod (the
 * official Helm chart's labels) whose container runs the project's venv Python, with
 * AIRFLOW_HOME a temp dir and its env from the ConfigMap `<release>-airflow-env` (empty at
 * start) through envFrom. Runs until SIGINT or SIGTERM.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { airflowBaseEnv, tempAirflowHome } from '../../local/airflow-env.js';
import { startKubeApiServer } from './kube-api-server.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', default: 'airflow' },
      release: { type: 'string', default: 'airflow' },
      's3-endpoint': { type: 'string', default: 'http://127.0.0.1:9' },
    },
    strict: true,
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536))
    throw new Error(`--port must be a TCP port, not ${values.port}`);
  const namespace = values.namespace;
  const release = values.release;
  const home = tempAirflowHome();
  const env = airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: values['s3-endpoint'] });
  const server = await startKubeApiServer({
    port,
    kubeconfigPath: values.kubeconfig === undefined ? undefined : path.resolve(values.kubeconfig),
    pods: [
      {
        namespace,
        name: `${release}-scheduler-0`,
        labels: { tier: 'airflow', component: 'scheduler', release },
        containers: [
          {
            name: 'scheduler',
            env: Object.entries(env).map(([name, value]) => ({ name, value })),
            envFrom: [{ configMapRef: { name: `${release}-airflow-env` } }],
          },
        ],
      },
    ],
    configMaps: [{ namespace, name: `${release}-airflow-env`, data: {} }],
  });
  process.stdout.write(
    `Kubernetes API test server at ${server.url}\n` +
      `kubeconfig: ${server.kubeconfigPath} (context ${server.context})\n` +
      `pod ${namespace}/${release}-scheduler-0 (tier=airflow,component=scheduler,release=${release}), ` +
      `container scheduler, AIRFLOW_HOME ${home.dir}\n` +
      `try: kubectl --kubeconfig ${server.kubeconfigPath} -n ${namespace} exec ${release}-scheduler-0 -- python -c 'import airflow; print(airflow.__version__)'\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping\n`);
    server
      .close()
      .catch((err: unknown) => process.stderr.write(`close failed: ${String(err)}\n`))
      .finally(() => {
        home.remove();
        process.exit(0);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
