/**
 * The bucket lifecycle rule and the orphan report, through the shipped activities and adapters:
 * a real S3 API (moto on loopback, with IAM enforced where permissions are the point) and, for the
 * orphans, Airflow's own metadata schema in PostgreSQL.
 *
 * moto 5 keeps every rule field these tests seed; it drops a few others (`ObjectSizeGreaterThan`
 * inside `And`, `NewerNoncurrentVersions` of a noncurrent expiration), which is why "kept exactly"
 * is checked against what the bucket itself returned before the merge, as a real user's would be.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import { lifecyclePreflightRow, objectStorageActivities } from '../activities/object-storage.js';
import type { Adapters } from '../activities/adapters.js';
import { PostgresMetadataDb } from '../adapters/metadata-db.js';
import { S3ObjectStore } from '../adapters/s3-object-store.js';
import type { LifecycleRule } from '../domain/lifecycle.js';
import { lifecycleConflicts, ownedRule, sameLifecycle, withoutOwned } from '../domain/lifecycle.js';
import { planSchema, type PlanInput } from '../domain/plan.js';
import { stateStorePlanSchema, type StateStorePlanInput } from '../domain/statestore/plan.js';
import type { BackendFlipPlan } from '../domain/runbooks.js';
import { clearXComHistory, insertXComRows } from '../local/xcom-history.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { startMoto, TEST_REGION, type MotoServer } from './support/moto.js';
import { REPO_ROOT, referencePlanInput } from './support/plans.js';

const SLOW = { timeout: 300_000 };

/** The dossier's existing rule: one lifecycle config per bucket, so ours must be merged with it. */
const L2_EVENTS: LifecycleRule = {
  ID: 'l2-events-7d-retention',
  Status: 'Enabled',
  Filter: { Prefix: 'l2-events/' },
  Expiration: { Days: 7 },
};

/** Rules of every kind a bucket may hold, in fields moto keeps. */
const EVERY_KIND: LifecycleRule[] = [
  L2_EVENTS,
  {
    ID: 'archive',
    Status: 'Enabled',
    Filter: { And: { Prefix: 'archive/', Tags: [{ Key: 'tier', Value: 'cold' }] } },
    Transitions: [
      { Days: 30, StorageClass: 'STANDARD_IA' },
      { Days: 90, StorageClass: 'GLACIER' },
    ],
    NoncurrentVersionTransitions: [
      { NoncurrentDays: 30, StorageClass: 'GLACIER', NewerNoncurrentVersions: 2 },
    ],
    NoncurrentVersionExpiration: { NoncurrentDays: 365 },
  },
  {
    ID: 'abort-uploads',
    Status: 'Disabled',
    Filter: { Prefix: '' },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 },
  },
  {
    ID: 'tagged-tmp',
    Status: 'Enabled',
    Filter: { Tag: { Key: 'tmp', Value: 'yes' } },
    Expiration: { Date: '2030-01-01T00:00:00.000Z' },
  },
  {
    ID: 'delete-markers',
    Status: 'Enabled',
    Filter: { Prefix: 'logs/' },
    Expiration: { ExpiredObjectDeleteMarker: true },
  },
];

function xcomPlan(bucket: string, patch: (raw: PlanInput) => void = () => {}): BackendFlipPlan {
  const raw = referencePlanInput();
  raw.name = 'lifecycle-test';
  raw.spec.xcom.path = `s3://aws_default@${bucket}/xcom`;
  raw.spec.lifecycle = { days: 7 };
  patch(raw);
  return planSchema.parse(raw);
}

function storeFor(moto: MotoServer, credentials = moto.credentials): S3ObjectStore {
  return new S3ObjectStore({ endpoint: moto.endpoint, region: TEST_REGION, credentials });
}

void describe('bucket lifecycle rule (moto S3)', () => {
  let moto: MotoServer;
  let store: S3ObjectStore;
  let activities: ReturnType<typeof objectStorageActivities>;
  let bucket: string;
  let n = 0;

  before(async () => {
    moto = await startMoto({ bucket: 'cutover-lifecycle' });
    store = storeFor(moto);
    activities = objectStorageActivities({ objectStore: store });
  });
  after(async () => {
    store.close();
    await moto.stop();
  });
  beforeEach(async () => {
    bucket = `lifecycle-${++n}`;
    await moto.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  /** RENDER, APPLY, APPLY again, REVERT, each checked against what the bucket holds. */
  async function roundTrip(plan: BackendFlipPlan, existing: LifecycleRule[] | null) {
    if (existing) await store.putLifecycle(bucket, existing);
    const before = await store.getLifecycle(bucket);
    const render = await activities.renderLifecycle({ plan });
    assert.ok(sameLifecycle(render.before, before), 'RENDER read the configuration as it is');
    assert.equal(render.changed, true);
    assert.match(render.diff, /^\+ .*"ID": "cutover:lifecycle-test:xcom\/"/m);

    const applied = await activities.applyLifecycle({ plan, render });
    assert.equal(applied.changed, true, applied.detail);
    const live = await store.getLifecycle(bucket);
    assert.ok(sameLifecycle(live, render.after), 'the bucket holds the merged configuration');
    const ours = (live ?? []).find((r) => r.ID === render.ruleId);
    assert.deepEqual(ours?.Filter, { Prefix: 'xcom/' });
    assert.deepEqual(ours?.Expiration, { Days: 7 });
    // Every other rule is as the bucket held it, in its order.
    assert.ok(sameLifecycle(withoutOwned(live, render.ruleId), before), 'other rules kept exactly');

    const again = await activities.applyLifecycle({ plan, render });
    assert.equal(again.changed, false);
    assert.match(again.detail, /already holds/);
    assert.ok(
      sameLifecycle(await store.getLifecycle(bucket), render.after),
      'a second apply changed nothing',
    );

    const reverted = await activities.revertLifecycle({ plan, render });
    assert.equal(reverted.outcome, before === null ? 'deleted' : 'restored', reverted.detail);
    assert.ok(sameLifecycle(await store.getLifecycle(bucket), before), 'the previous configuration is back');
    const twice = await activities.revertLifecycle({ plan, render });
    assert.equal(twice.outcome, 'unchanged');
    return render;
  }

  void it('a bucket with no configuration: the rule is put, and the revert deletes the configuration again', async () => {
    const render = await roundTrip(xcomPlan(bucket), null);
    assert.equal(render.before, null);
    assert.deepEqual(render.conflicts, []);
    assert.deepEqual(render.warnings, []);
  });

  void it("the dossier's bucket with l2-events-7d-retention: merged, not replaced, and restored exactly", async () => {
    const render = await roundTrip(xcomPlan(bucket), [L2_EVENTS]);
    assert.equal(render.after.length, 2);
    assert.equal(render.after[0]?.ID, 'l2-events-7d-retention');
    assert.deepEqual(render.conflicts, [], 'a rule on another prefix is no conflict');
  });

  void it('rules of every kind are kept byte for byte, in order', async () => {
    const render = await roundTrip(xcomPlan(bucket), EVERY_KIND);
    assert.deepEqual(
      render.after.map((r) => r.ID),
      [...EVERY_KIND.map((r) => r.ID), render.ruleId],
    );
    // The disabled rule on the bucket root overlaps but acts on nothing; the tag-only one applies everywhere.
    assert.deepEqual(
      render.conflicts.map((c) => c.ruleId),
      ['tagged-tmp'],
    );
  });

  void it('overlapping rules (bucket root, same prefix with other days, a parent prefix) are amber with both rules quoted', async () => {
    const overlapping: LifecycleRule[] = [
      { ID: 'root-30d', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 30 } },
      { ID: 'xcom-3d', Status: 'Enabled', Filter: { Prefix: 'xcom/' }, Expiration: { Days: 3 } },
      { ID: 'x-legacy', Status: 'Enabled', Prefix: 'x', Expiration: { Days: 90 } },
      L2_EVENTS,
    ];
    const render = await roundTrip(xcomPlan(bucket), overlapping);
    assert.deepEqual(
      render.conflicts.map((c) => c.ruleId),
      ['root-30d', 'xcom-3d', 'x-legacy'],
    );
    assert.equal(render.warnings.length, 3);
    const [root, same, parent] = render.warnings;
    assert.match(root ?? '', /root-30d applies to the whole bucket \(expires after 30 days\)/);
    assert.match(same ?? '', /xcom-3d applies to the same prefix xcom\/ \(expires after 3 days\)/);
    assert.match(same ?? '', /"Days":3.* vs ours .*"Days":7/);
    assert.match(parent ?? '', /x-legacy applies to x, which contains xcom\//);
  });

  void it('a re-run of the same plan replaces its own rule in place; other days make it a change', async () => {
    await store.putLifecycle(bucket, [
      L2_EVENTS,
      ownedRule('lifecycle-test', `s3://aws_default@${bucket}/xcom`, 7),
    ]);
    const same = await activities.renderLifecycle({ plan: xcomPlan(bucket) });
    assert.equal(same.changed, false);
    assert.equal(same.diff, '');
    const longer = await activities.renderLifecycle({
      plan: xcomPlan(bucket, (raw) => (raw.spec.lifecycle = { days: 14 })),
    });
    assert.equal(longer.changed, true);
    assert.equal(longer.after.length, 2);
    assert.deepEqual(longer.after[1]?.Expiration, { Days: 14 });
    assert.match(longer.diff, /^- +"Days": 7$/m);
    assert.match(longer.diff, /^\+ +"Days": 14$/m);
  });

  void it('a configuration changed after RENDER is not overwritten; a revert after someone else’s edit takes out only our rule', async () => {
    const plan = xcomPlan(bucket);
    const render = await activities.renderLifecycle({ plan });
    await store.putLifecycle(bucket, [L2_EVENTS]);
    await assert.rejects(activities.applyLifecycle({ plan, render }), /changed after it was rendered/);
    assert.ok(sameLifecycle(await store.getLifecycle(bucket), [L2_EVENTS]), 'nothing overwritten');

    await store.deleteLifecycle(bucket);
    const fresh = await activities.renderLifecycle({ plan });
    await activities.applyLifecycle({ plan, render: fresh });
    const theirs: LifecycleRule = {
      ID: 'added-later',
      Status: 'Enabled',
      Filter: { Prefix: 'tmp/' },
      Expiration: { Days: 1 },
    };
    await store.putLifecycle(bucket, [...fresh.after, theirs]);
    const reverted = await activities.revertLifecycle({ plan, render: fresh });
    assert.equal(reverted.outcome, 'ours-removed', reverted.detail);
    assert.ok(sameLifecycle(await store.getLifecycle(bucket), [theirs]), 'their rule left, ours gone');
  });

  void it('PREFLIGHT: green when the worker reads the configuration; the state store without a rule is amber', async () => {
    const ok = await lifecyclePreflightRow({ objectStore: store }, xcomPlan(bucket));
    assert.equal(ok.status, 'green', ok.detail);
    assert.match(ok.detail, /s3:PutLifecycleConfiguration/);
    const none = await lifecyclePreflightRow(
      {},
      xcomPlan(bucket, (raw) => delete raw.spec.lifecycle),
    );
    assert.equal(none.status, 'green');

    const raw = stateStorePlanRaw(bucket);
    const amber = await lifecyclePreflightRow({}, stateStorePlanSchema.parse(raw));
    assert.equal(amber.status, 'amber');
    assert.match(amber.detail, /offloaded state is never deleted/);
    raw.spec.lifecycle = { days: 30 };
    const withRule = await lifecyclePreflightRow({ objectStore: store }, stateStorePlanSchema.parse(raw));
    assert.equal(withRule.status, 'green', withRule.detail);
  });
});

/** The shipped state-store example, pointed at `bucket`, without its lifecycle rule. */
function stateStorePlanRaw(bucket: string): StateStorePlanInput {
  const raw = parse(
    readFileSync(path.join(REPO_ROOT, 'plans', 'state-store-local.yaml'), 'utf8'),
  ) as StateStorePlanInput;
  raw.spec.stateStore.path = `s3://aws_default@${bucket}/state`;
  delete raw.spec.lifecycle;
  return raw;
}

void describe('plan: spec.lifecycle', () => {
  void it('refuses a path without a prefix and a non-S3 path, naming the field', () => {
    const root = planSchema.safeParse({
      ...referencePlanInput(),
      spec: {
        ...referencePlanInput().spec,
        xcom: { ...referencePlanInput().spec.xcom, path: 's3://aws_default@bucket' },
        lifecycle: { days: 7 },
      },
    });
    assert.equal(root.success, false);
    const issue = root.error?.issues.find((i) => i.path.join('.') === 'spec.lifecycle');
    assert.match(issue?.message ?? '', /no prefix, so the rule would expire every object in the bucket/);

    const gs = planSchema.safeParse({
      ...referencePlanInput(),
      spec: {
        ...referencePlanInput().spec,
        xcom: { ...referencePlanInput().spec.xcom, path: 'gs://gcp@bucket/xcom' },
        lifecycle: { days: 7 },
      },
    });
    assert.match(
      gs.error?.issues.find((i) => i.path.join('.') === 'spec.lifecycle')?.message ?? '',
      /must be s3:\/\//,
    );

    const bad = planSchema.safeParse({
      ...referencePlanInput(),
      spec: { ...referencePlanInput().spec, lifecycle: { days: 0, when: 'sometime' } },
    });
    assert.deepEqual(bad.error?.issues.map((i) => i.path.join('.')).sort(), [
      'spec.lifecycle.days',
      'spec.lifecycle.when',
    ]);
  });

  void it('defaults to after-verify', () => {
    const plan = xcomPlan('b');
    assert.equal(plan.spec.lifecycle?.when, 'after-verify');
  });

  void it('conflicts ignore disabled rules and our own', () => {
    const ours = ownedRule('p', 's3://c@b/xcom', 7);
    assert.deepEqual(
      lifecycleConflicts(
        [{ ID: 'off', Status: 'Disabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }, ours],
        ours,
      ),
      [],
    );
  });
});

void describe('PREFLIGHT against IAM (moto with auth enforced)', () => {
  void it(
    'names s3:GetLifecycleConfiguration when it is denied, and rejected credentials as such; nothing changed',
    SLOW,
    async () => {
      const moto = await startMoto({
        bucket: 'cutover-denied',
        enforceAuth: true,
        denyActions: ['s3:GetLifecycleConfiguration', 's3:PutLifecycleConfiguration'],
      });
      const denied = storeFor(moto);
      const wrong = storeFor(moto, { accessKeyId: 'AKIANOTAKEY000000000', secretAccessKey: 'nope' });
      try {
        const plan = xcomPlan(moto.bucket);
        const row = await lifecyclePreflightRow({ objectStore: denied }, plan);
        assert.equal(row.status, 'red', row.detail);
        assert.match(row.detail, /s3:GetLifecycleConfiguration is denied/);
        const bad = await lifecyclePreflightRow({ objectStore: wrong }, plan);
        assert.equal(bad.status, 'red', bad.detail);
        assert.match(bad.detail, /credentials were rejected \(InvalidAccessKeyId\)/);
        // The write is refused as well, with its own permission named; the bucket keeps no configuration.
        await assert.rejects(
          denied.putLifecycle(moto.bucket, [ownedRule('p', `s3://c@${moto.bucket}/xcom`, 7)]),
          /s3:PutLifecycleConfiguration is denied/,
        );
      } finally {
        denied.close();
        wrong.close();
        await moto.stop();
      }
    },
  );
});

void describe('orphan report (Airflow metadata DB in PostgreSQL, moto S3)', () => {
  let db: AirflowTestDatabase;
  let moto: MotoServer;
  let admin: pg.Client;
  let metadb: PostgresMetadataDb;
  let store: S3ObjectStore;
  let adapters: Adapters;

  before(async () => {
    [db, moto] = await Promise.all([
      createAirflowTestDatabase('orphans'),
      startMoto({ bucket: 'cutover-orphans' }),
    ]);
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    metadb = new PostgresMetadataDb(db.url);
    store = storeFor(moto);
    adapters = { objectStore: store, objectReferences: metadb };
  });
  after(async () => {
    await admin?.end();
    await metadb?.close();
    store?.close();
    await moto?.stop();
    await db?.drop();
  });

  void it(
    'objects of a cleared DAG run are orphans; referenced ones are not; old referenced objects are counted against the retention',
    SLOW,
    async () => {
      await clearXComHistory(admin);
      // Three runs of one task; the backend wrote each value as an object and kept its URL in the row.
      await insertXComRows(admin, [
        { dagId: 'etl', taskId: 'extract', bytes: 10 },
        { dagId: 'etl', taskId: 'extract', bytes: 10 },
        { dagId: 'etl', taskId: 'extract', bytes: 10 },
      ]);
      const rows = await admin.query<{ id: number; run_id: string }>(
        `SELECT dag_run_id AS id, run_id FROM xcom ORDER BY run_id`,
      );
      const keys: string[] = [];
      for (const [i, r] of rows.rows.entries()) {
        const key = `xcom/etl/${r.run_id}/extract/0000000${i}-uuid`;
        keys.push(key);
        await moto.s3.send(
          new PutObjectCommand({ Bucket: moto.bucket, Key: key, Body: 'x'.repeat(1000 + i) }),
        );
        await admin.query(`UPDATE xcom SET value = to_jsonb($1::text) WHERE run_id = $2`, [
          `s3://aws_default@${moto.bucket}/${key}`,
          r.run_id,
        ]);
      }
      // An object outside the prefix, and one referenced without the conn id (older Airflow wrote those).
      await moto.s3.send(new PutObjectCommand({ Bucket: moto.bucket, Key: 'l2-events/e1', Body: 'e' }));
      // Clearing a DAG run deletes its XCom rows; the backend's objects stay behind.
      await admin.query(`DELETE FROM xcom WHERE run_id = $1`, [rows.rows[0]?.run_id]);
      // A row whose object is gone (deleted by hand): dangling.
      await admin.query(
        `INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
       SELECT dag_run_id, task_id, map_index, 'other', dag_id, run_id, to_jsonb($1::text), timestamp FROM xcom LIMIT 1`,
        [`s3://${moto.bucket}/xcom/etl/gone/extract/zz`],
      );

      const report = await objectStorageActivities(adapters).reportObjects({
        plan: xcomPlan(moto.bucket),
        now: new Date(Date.now() + 8 * 86_400_000).toISOString(),
      });
      assert.equal(report.skipped, null);
      assert.equal(report.keyPrefix, 'xcom/');
      assert.deepEqual(
        {
          listed: report.listed.objects,
          referenced: report.referenced.objects,
          orphaned: report.orphaned.objects,
        },
        { listed: 3, referenced: 2, orphaned: 1 },
      );
      assert.equal(report.orphaned.bytes, 1000);
      assert.equal(report.referenced.bytes, 1001 + 1002);
      assert.ok(report.orphaned.oldest !== null);
      assert.equal(report.dangling, 1);
      // Eight days on, both referenced objects are older than the 7-day retention: the rule would delete them.
      assert.equal(report.retentionDays, 7);
      assert.equal(report.referencedOlderThanRetention, 2);

      const now = await objectStorageActivities(adapters).reportObjects({ plan: xcomPlan(moto.bucket) });
      assert.equal(now.referencedOlderThanRetention, 0);
      assert.equal(report.referencedByAgeDays.length, 9, 'eight days old: the histogram ends there');
      assert.equal(report.referencedByAgeDays[8], 2);
      // A 3-day rule already on the prefix deletes first: its toll on values still in use is counted.
      await store.putLifecycle(moto.bucket, [
        { ID: 'xcom-3d', Status: 'Enabled', Filter: { Prefix: 'xcom/' }, Expiration: { Days: 3 } },
      ]);
      const render = await objectStorageActivities(adapters).renderLifecycle({
        plan: xcomPlan(moto.bucket),
        objects: report,
      });
      assert.ok(
        render.warnings.some((w) =>
          /2 object\(s\) under xcom\/ are still referenced by the metadata DB and older than 7 days/.test(w),
        ),
        render.warnings.join('\n'),
      );
    },
  );

  void it(
    'pages through more objects than one listing page, in the same order as the DB cursor',
    SLOW,
    async () => {
      await clearXComHistory(admin);
      await insertXComRows(
        admin,
        Array.from({ length: 1500 }, () => ({ dagId: 'wide', taskId: 'fan', bytes: 10 })),
      );
      const runs = await admin.query<{ run_id: string }>(`SELECT run_id FROM xcom ORDER BY run_id`);
      // Keys whose byte order differs from a locale's order (upper case, underscores, digits).
      const keyOf = (runId: string, i: number) => `xcom/wide/${runId}/fan/${i % 2 ? 'A' : '_'}${i}`;
      await admin.query(
        `UPDATE xcom x SET value = to_jsonb($1 || k.key) FROM unnest($2::text[], $3::text[]) AS k(run_id, key) WHERE x.run_id = k.run_id`,
        [
          `s3://aws_default@${moto.bucket}/`,
          runs.rows.map((r) => r.run_id),
          runs.rows.map((r, i) => keyOf(r.run_id, i)),
        ],
      );
      const referenced = runs.rows.map((r, i) => keyOf(r.run_id, i));
      const extra = Array.from({ length: 300 }, (_, i) => `xcom/orphan/${String(i).padStart(4, '0')}`);
      for (let i = 0; i < referenced.length + extra.length; i += 50) {
        await Promise.all(
          [...referenced, ...extra]
            .slice(i, i + 50)
            .map((Key) => moto.s3.send(new PutObjectCommand({ Bucket: moto.bucket, Key, Body: 'v' }))),
        );
      }
      const report = await objectStorageActivities(adapters).reportObjects({ plan: xcomPlan(moto.bucket) });
      // The earlier test's three objects are still there: two now orphaned (their rows were truncated), one too.
      assert.equal(report.referenced.objects, 1500);
      assert.equal(report.orphaned.objects, 300 + 3);
      assert.equal(report.dangling, 0);
    },
  );

  void it('a worker without direct DB access says why instead of failing the run', async () => {
    const report = await objectStorageActivities({ objectStore: store }).reportObjects({
      plan: xcomPlan(moto.bucket),
    });
    assert.match(report.skipped ?? '', /object references/);
    assert.equal(report.listed.objects, 0);
  });
});
