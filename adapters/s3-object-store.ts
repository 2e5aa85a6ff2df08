/**
 * The bucket a backend flip writes to, through @aws-sdk/client-s3: its lifecycle configuration
 * (read, replaced whole, deleted) and a paginated listing under a prefix.
 *
 * What it relies on (the S3 API, as AWS documents it and moto 5 serves it):
 * - GetBucketLifecycleConfiguration answers 404 NoSuchLifecycleConfiguration when there is none.
 * - PutBucketLifecycleConfiguration replaces the whole configuration; it needs s3:PutLifecycleConfiguration,
 *   and so does DeleteBucketLifecycle (there is no separate delete permission).
 * - ListObjectsV2 returns keys in UTF-8 binary order, at most 1,000 per page.
 *
 * Rules travel through workflow history as JSON: the SDK's Date fields (Expiration.Date,
 * Transitions[].Date) become ISO strings on the way out and Dates again on the way back.
 */
import {
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  S3Client,
  type LifecycleRule as SdkLifecycleRule,
} from '@aws-sdk/client-s3';
import { PermanentFault } from '../activities/engine/errors.js';
import type { ListedObject, ObjectStorePort } from '../activities/object-store-ports.js';
import type { LifecycleConfig, LifecycleRule } from '../domain/lifecycle.js';

export interface S3ObjectStoreOptions {
  endpoint?: string;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The IAM action each call needs: what an operator must grant when it is denied. */
const PERMISSION = {
  get: 's3:GetLifecycleConfiguration',
  put: 's3:PutLifecycleConfiguration',
  delete: 's3:PutLifecycleConfiguration',
  list: 's3:ListBucket',
} as const;

/** Errors a retry cannot change: the credentials, the permission or the bucket are wrong. */
const PERMANENT_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'NoSuchBucket',
  'MalformedXML',
  'InvalidRequest',
  'InvalidArgument',
]);

export class S3ObjectStore implements ObjectStorePort {
  private readonly client: S3Client;

  constructor(opts: S3ObjectStoreOptions) {
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      ...(opts.credentials ? { credentials: { ...opts.credentials } } : {}),
    });
  }

  async getLifecycle(bucket: string): Promise<LifecycleConfig> {
    try {
      const res = await this.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
      return (res.Rules ?? []).map((r) => toJson(r) as LifecycleRule);
    } catch (err) {
      if (errorCode(err) === 'NoSuchLifecycleConfiguration') return null;
      throw s3Error(err, 'get', bucket);
    }
  }

  async putLifecycle(bucket: string, rules: LifecycleRule[]): Promise<void> {
    try {
      await this.client.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: bucket,
          LifecycleConfiguration: { Rules: rules.map((r) => fromJson(r) as SdkLifecycleRule) },
        }),
      );
    } catch (err) {
      throw s3Error(err, 'put', bucket);
    }
  }

  async deleteLifecycle(bucket: string): Promise<void> {
    try {
      await this.client.send(new DeleteBucketLifecycleCommand({ Bucket: bucket }));
    } catch (err) {
      throw s3Error(err, 'delete', bucket);
    }
  }

  async *listObjects(bucket: string, prefix: string): AsyncIterable<ListedObject[]> {
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (err) {
        throw s3Error(err, 'list', bucket);
      }
      const page: ListedObject[] = [];
      for (const o of res.Contents ?? []) {
        if (!o.Key) continue;
        page.push({
          key: o.Key,
          size: o.Size ?? 0,
          lastModified: (o.LastModified ?? new Date(0)).toISOString(),
        });
      }
      if (page.length > 0) yield page;
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  close(): void {
    this.client.destroy();
  }
}

function errorCode(err: unknown): string {
  const e = err as { name?: string; Code?: string };
  return e.Code ?? e.name ?? 'Error';
}

function s3Error(err: unknown, op: keyof typeof PERMISSION, bucket: string): Error {
  const code = errorCode(err);
  const message = (err as { message?: string }).message ?? String(err);
  const what = {
    get: 'reading the lifecycle configuration of',
    put: 'writing the lifecycle configuration of',
    delete: 'deleting the lifecycle configuration of',
    list: 'listing',
  }[op];
  if (code === 'CredentialsProviderError')
    return new PermanentFault(
      `${what} bucket ${bucket}: the worker has no S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile or a role)`,
    );
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (code === 'AccessDenied' || status === 403) {
    const cause =
      code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch'
        ? `the worker's S3 credentials were rejected (${code})`
        : `${PERMISSION[op]} is denied to the worker's credentials (${code})`;
    return new PermanentFault(`${what} bucket ${bucket}: ${cause}`);
  }
  const text = `${what} bucket ${bucket} failed: ${code}: ${message}`;
  return PERMANENT_CODES.has(code) ? new PermanentFault(text) : new Error(text);
}

/** SDK output -> JSON: Dates to ISO strings, undefined fields dropped. */
function toJson(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJson(x);
    return out;
  }
  return v;
}

/** JSON -> SDK input: the `Date` fields back to Dates (the only timestamps in a lifecycle rule). */
function fromJson(v: unknown, key = ''): unknown {
  if (key === 'Date' && typeof v === 'string') return new Date(v);
  if (Array.isArray(v)) return v.map((x) => fromJson(x));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = fromJson(x, k);
    return out;
  }
  return v;
}
