/**
 * A rollout controller that is gone is not busy. The local supervisor's port refusing connections
 * (a supervisor killed with SIGKILL leaves exactly that) and the in-repo Kubernetes API test
 * server stopped in the middle of a rollout: after the bounded retry (3 tries, injected as 3 tries
 * a few ms apart) the step fails with ControllerUnreachable naming the URL, the components and
 * since when, and the activity failure is non-retryable by type.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { ControllerUnreachable, toActivityFailure } from '../activities/engine/errors.js';
import { KubeExecPort } from '../adapters/kube/exec.js';
import { KubeRollout } from '../adapters/kube/rollout.js';
import { LocalRollout, supervisorStateFile } from '../adapters/local-rollout.js';
import { NON_RETRYABLE_TYPES } from '../domain/failure-types.js';
import type { Component } from '../domain/plan.js';
import { freePort } from '../local/ports.js';
import { tempAirflowHome } from './support/airflow.js';
import { startKubeApiServer } from './support/kube-api-server.js';

const RETRY = { tries: 3, intervalMs: 20 };
const components: Component[] = [{ name: 'api-server' }, { name: 'scheduler' }];
// Today's code waits out the rollout timeout (an hour here): the bound makes that a failure, not a hang.
const QUICK = { timeout: 60_000 };
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;

void describe('a rollout controller that refuses connections', () => {
  void test('local: a dead supervisor fails the rollout after 3 tries, never "busy"', QUICK, async () => {
    const home = tempAirflowHome();
    try {
      // The state file a killed supervisor leaves behind, naming a port nothing listens on now.
      const envFile = `${home.dir}/airflow.env`;
      const url = `http://127.0.0.1:${await freePort()}`;
      writeFileSync(supervisorStateFile(envFile), JSON.stringify({ controlUrl: url }));
      let calls = 0;
      const beats: unknown[] = [];
      const rollout = new LocalRollout({
        stateFile: supervisorStateFile(envFile),
        reachRetry: RETRY,
        fetch: (input, init) => {
          calls += 1;
          return fetch(input, init);
        },
      });
      const err = await rollout
        .restartAndWait({
          components,
          expectEnv: { AIRFLOW__CORE__XCOM_BACKEND: null },
          // Longer than any test: today's code heartbeats "supervisor busy" until it ends.
          timeoutMs: 3_600_000,
          heartbeat: (d) => beats.push(d),
        })
        .then(
          () => assert.fail('the rollout of a dead supervisor must fail'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof ControllerUnreachable, String(err));
      assert.match(
        err.message,
        new RegExp(`^supervisor unreachable at ${url} \\(ECONNREFUSED, 3 tries over 0 s\\)`),
      );
      assert.match(err.message, /the Airflow components api-server, scheduler are down or unmanaged since /);
      assert.match(err.message, ISO);
      assert.equal(calls, 3, 'three tries, then the verdict');
      assert.ok(!JSON.stringify(beats).includes('busy'), JSON.stringify(beats));
      assert.match(JSON.stringify(beats), /supervisor unreachable \(ECONNREFUSED\), try 1\/3/);

      const failure = toActivityFailure(err);
      assert.ok(failure instanceof ApplicationFailure);
      assert.equal(failure.type, 'ControllerUnreachable');
      assert.equal(failure.nonRetryable, true);
      assert.ok((NON_RETRYABLE_TYPES as readonly string[]).includes('ControllerUnreachable'));
    } finally {
      home.remove();
    }
  });

  void test(
    'kubernetes: the API server stopped mid-rollout fails it once for all components',
    QUICK,
    async () => {
      const NS = 'airflow';
      const workload = (name: string, component: string) => ({
        namespace: NS,
        name,
        replicas: 1,
        template: {
          metadata: { labels: { tier: 'airflow', component, release: 'af' } },
          spec: { containers: [{ name: component, envFrom: [{ configMapRef: { name: 'af-env' } }] }] },
        },
      });
      const server = await startKubeApiServer({
        configMaps: [{ namespace: NS, name: 'af-env', data: { A: 'old' } }],
        deployments: [workload('af-api-server', 'api-server'), workload('af-scheduler', 'scheduler')],
      });
      let closed = false;
      try {
        const kc = new k8s.KubeConfig();
        kc.loadFromFile(server.kubeconfigPath);
        const rollout = new KubeRollout({
          kubeConfig: kc,
          namespace: NS,
          release: 'af',
          exec: new KubeExecPort({ kubeConfig: kc, namespace: NS, release: 'af' }),
          python: ['python'],
          pollMs: 50,
          reachRetry: RETRY,
        });
        const beats: string[] = [];
        let stopping: Promise<void> | null = null;
        const err = await rollout
          .restartAndWait({
            components,
            // A GitOps sync that never comes: the rollout polls the pod templates until stopped.
            expectEnv: { A: 'new' },
            timeoutMs: 3_600_000,
            heartbeat: (d) => {
              beats.push(JSON.stringify(d));
              // Both components are polling: the API server goes away under them.
              if (beats.length >= 2 && stopping === null)
                stopping = server.close().then(() => {
                  closed = true;
                });
            },
          })
          .then(
            () => assert.fail('the rollout against a stopped API server must fail'),
            (e: unknown) => e,
          );
        await stopping;
        assert.ok(err instanceof ControllerUnreachable, String(err));
        assert.match(
          err.message,
          new RegExp(
            `^Kubernetes API server unreachable at ${server.url} \\(ECONNREFUSED, 3 tries over 0 s\\)`,
          ),
        );
        assert.match(
          err.message,
          /the rollout of api-server, scheduler can be neither driven nor watched since /,
        );
        assert.match(err.message, ISO);
        assert.equal(err.message.split('unreachable at').length, 2, 'the reason once, not per component');
        assert.ok(beats.some((b) => b.includes('Kubernetes API server unreachable (ECONNREFUSED), try 2/3')));
      } finally {
        if (!closed) await server.close();
      }
    },
  );
});
