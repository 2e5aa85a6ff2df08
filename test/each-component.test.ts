/**
 * The per-component probes of a step run at the same time (activities/engine/each-component.ts):
 * results in the components' order, every probe waited for, the first failure in that order thrown;
 * and VERIFY of the XCom runbook probes its components at once (a barrier that only opens when every
 * component's probe has started: one after the other, it never would).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AirflowProbePort } from '../activities/adapters.js';
import { inEachComponent } from '../activities/engine/each-component.js';
import { verifyActivities } from '../activities/xcom/verify.js';
import { renderStages } from '../activities/xcom/render.js';
import type { ComponentConfig } from '../domain/evidence.js';
import { testPlan } from './support/plans.js';

/** Resolves once `n` callers have arrived: it only opens when they all run at once. */
function barrier(n: number): { arrive(): Promise<void>; arrived: () => number } {
  let count = 0;
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    arrive() {
      count += 1;
      if (count === n) open();
      return opened;
    },
    arrived: () => count,
  };
}

/** A guard against a hang if the probes ran one after the other: a failure, not a timing check. */
const GUARD = { timeout: 30_000 };

test('inEachComponent: all probes run at once, results in the components order', GUARD, async () => {
  const names = ['scheduler', 'api-server', 'triggerer', 'dag-processor'];
  const b = barrier(names.length);
  const finished: string[] = [];
  const out = await inEachComponent(names, async (name) => {
    await b.arrive();
    // Later components finish first: the order of the result must not follow it.
    for (let i = names.length - names.indexOf(name); i > 0; i--) await Promise.resolve();
    finished.push(name);
    return `${name}:ok`;
  });
  assert.deepEqual(
    out,
    names.map((n) => `${n}:ok`),
  );
  assert.deepEqual(finished, [...names].reverse());
});

test(
  'inEachComponent: waits for every probe, then throws the first failure in the components order',
  GUARD,
  async () => {
    const names = ['a', 'b', 'c'];
    const b = barrier(names.length);
    let cDone = false;
    let aRejected = false;
    const err = await inEachComponent(names, async (name) => {
      await b.arrive();
      if (name === 'b') throw new Error('b failed first');
      if (name === 'a') {
        // Fails after b has.
        await new Promise((r) => setImmediate(r));
        aRejected = true;
        throw new Error('a failed later');
      }
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      cDone = true;
      return name;
    }).then(
      () => assert.fail('should have thrown'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'a failed later', 'the first in the components order, not the first to fail');
    assert.ok(aRejected && cDone, 'no probe is still running when the step fails');
  },
);

test('xcom VERIFY probes every component at once and reports them in the plan order', GUARD, async () => {
  const plan = testPlan();
  const [stage] = renderStages(plan, 1_600_000);
  assert.ok(stage);
  const b = barrier(plan.target.components.length);
  const probes: AirflowProbePort = {
    preflight: () => Promise.reject(new Error('not used')),
    rehearse: () => Promise.reject(new Error('not used')),
    async resolveConfig({ component }): Promise<ComponentConfig> {
      await b.arrive();
      return {
        component: component.name,
        pod: `${component.name}-0`,
        path: plan.spec.xcom.path,
        threshold: stage.thresholdBytes,
        compression: null,
        xcomClass: 'XComObjectStorageBackend',
        error: null,
      };
    },
  };
  const ev = await verifyActivities({ probes }).verifyConfig({ plan, stage });
  assert.equal(b.arrived(), plan.target.components.length);
  assert.deepEqual(
    ev.components.map((c) => c.component),
    plan.target.components.map((c) => c.name),
  );
});
