/**
 * `npm run kube-test-server -- [--port N] [--kubeconfig FILE] [--namespace NS] [--release R] [--tls]`:
 * the Kubernetes API test server (kube-api-server.ts) with the Airflow scheduler as a
 * Deployment `<release>-scheduler` (the official Helm chart's labels tier=airflow,
 * component=scheduler, release=<release>) of one pod, whose container runs the project's venv
 * Python with AIRFLOW_HOME a temp dir and its env from the ConfigMap `<release>-airflow-env`
 * (empty at start) through envFrom. As in a real cluster, the pod's env is fixed when it is
 * created: after patching the ConfigMap, `kubectl rollout restart` makes a pod that sees it.
 * `--tls` serves https with a self-signed certificate (needs the openssl CLI) and requires the
 * kubeconfig's bearer token. Runs until SIGINT or SIGTERM.
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
      tls: { type: 'boolean', default: false },
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
  const labels = { tier: 'airflow', component: 'scheduler', release };
  const deployment = `${release}-scheduler`;
  const server = await startKubeApiServer({
    port,
    tls: values.tls,
    kubeconfigPath: values.kubeconfig === undefined ? undefined : path.resolve(values.kubeconfig),
    configMaps: [{ namespace, name: `${release}-airflow-env`, data: {} }],
    deployments: [
      {
        namespace,
        name: deployment,
        labels,
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'scheduler',
                env: Object.entries(env).map(([name, value]) => ({ name, value })),
                envFrom: [{ configMapRef: { name: `${release}-airflow-env` } }],
              },
            ],
          },
        },
      },
    ],
  });
  const kubectl = `kubectl --kubeconfig ${server.kubeconfigPath} -n ${namespace}`;
  const [pod] = server.listPods(namespace, labels);
  process.stdout.write(
    `Kubernetes API test server at ${server.url}${values.tls ? ' (TLS, bearer token required)' : ''}\n` +
      `kubeconfig: ${server.kubeconfigPath} (context ${server.context})\n` +
      `deployment ${namespace}/${deployment} (tier=airflow,component=scheduler,release=${release}), ` +
      `pod ${pod?.name ?? '?'}, container scheduler, AIRFLOW_HOME ${home.dir}\n` +
      `try: ${kubectl} exec deploy/${deployment} -- python -c 'import airflow; print(airflow.__version__)'\n` +
      `     ${kubectl} patch configmap ${release}-airflow-env --type merge -p '{"data":{"AIRFLOW__CORE__PARALLELISM":"8"}}'\n` +
      `     ${kubectl} rollout restart deployment/${deployment} && ${kubectl} rollout status deployment/${deployment}\n`,
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
