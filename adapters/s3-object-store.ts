/**
 * The bucket a backend flip writes to, through @aws-sdk/client-s3: its lifecycle configuration
 * (read, replaced whole, deleted) and a paginated listing under a prefix; and whole files the
 * upgrade's backup keeps there (uploaded with their SHA-256, in parts when large; downloaded).
 *
 * What it relies on (the S3 API, as AWS documents it and moto 5 serves it):
 * - GetBucketLifecycleConfiguration answers 404 NoSuchLifecycleConfiguration when there is none.
 * - PutBucketLifecycleConfiguration replaces the whole configuration; it needs s3:PutLifecycleConfiguration,
 *   and so does DeleteBucketLifecycle (there is no separate delete permission).
 * - ListObjectsV2 returns keys in UTF-8 binary order, at most 1,000 per page.
 * - PutObject takes at most 5 GiB; a multipart upload takes parts of 5 MiB or more (the last may be
 *   smaller), at most 10,000 of them. A request carrying x-amz-checksum-sha256 is refused
 *   (BadDigest / InvalidRequest) when the bytes received hash differently; a multipart object's
 *   checksum is a checksum of its parts' checksums, so the whole file's SHA-256 is also kept in the
 *   object's metadata (x-amz-meta-sha256) and checked by whoever downloads it.
 *
 * Rules travel through workflow history as JSON: the SDK's Date fields (Expiration.Date,
 * Transitions[].Date) become ISO strings on the way out and Dates again on the way back.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type LifecycleRule as SdkLifecycleRule,
} from '@aws-sdk/client-s3';
import { PermanentFault } from '../activities/engine/errors.js';
import type {
  ListedObject,
  ObjectFilePort,
  ObjectStorePort,
  PutFileOptions,
  StoredObjectHead,
} from '../activities/object-store-ports.js';
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
  putObject: 's3:PutObject',
  getObject: 's3:GetObject',
  headObject: 's3:GetObject',
} as const;

const MIB = 1024 * 1024;
/** S3's floor for every part but the last. */
const MIN_PART_BYTES = 5 * MIB;
const MAX_PARTS = 10_000;

/** Errors a retry cannot change: the credentials, the permission or the bucket are wrong. */
const PERMANENT_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'NoSuchBucket',
  'MalformedXML',
  'InvalidRequest',
  'InvalidArgument',
  'BadDigest',
  'EntityTooLarge',
]);

export class S3ObjectStore implements ObjectStorePort, ObjectFilePort {
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

  async putFile(bucket: string, key: string, file: string, opts: PutFileOptions): Promise<{ parts: number }> {
    const partSize = Math.max(MIN_PART_BYTES, opts.partSizeBytes ?? 64 * MIB);
    const { size } = await stat(file);
    const metadata = { ...opts.metadata, sha256: opts.sha256 };
    const handle = await open(file, 'r');
    try {
      if (size <= partSize) {
        const body = await readPart(handle, 0, size);
        try {
          await this.client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: body,
              ContentLength: size,
              ChecksumSHA256: hexToBase64(opts.sha256),
              Metadata: metadata,
            }),
            opts.signal ? { abortSignal: opts.signal } : {},
          );
        } catch (err) {
          throw s3Error(err, 'putObject', bucket, key);
        }
        return { parts: 1 };
      }
      const count = Math.ceil(size / partSize);
      if (count > MAX_PARTS)
        throw new PermanentFault(
          `uploading ${file} to s3://${bucket}/${key}: ${size} bytes in parts of ${partSize} would take ${count} parts (S3 allows ${MAX_PARTS}); raise partSizeBytes`,
        );
      let uploadId: string | undefined;
      try {
        const created = await this.client.send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            ChecksumAlgorithm: 'SHA256',
            Metadata: metadata,
          }),
        );
        uploadId = created.UploadId;
        const parts: CompletedPart[] = [];
        for (let n = 1; n <= count; n++) {
          opts.signal?.throwIfAborted();
          const start = (n - 1) * partSize;
          const body = await readPart(handle, start, Math.min(partSize, size - start));
          const checksum = createHash('sha256').update(body).digest('base64');
          const res = await this.client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: n,
              Body: body,
              ContentLength: body.length,
              ChecksumSHA256: checksum,
            }),
            opts.signal ? { abortSignal: opts.signal } : {},
          );
          parts.push({ PartNumber: n, ETag: res.ETag, ChecksumSHA256: res.ChecksumSHA256 ?? checksum });
        }
        await this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
        return { parts: count };
      } catch (err) {
        if (uploadId !== undefined) {
          // An abandoned upload's parts are billed until aborted.
          await this.client
            .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
            .catch(() => undefined);
        }
        if (err instanceof PermanentFault) throw err;
        throw s3Error(err, 'putObject', bucket, key);
      }
    } finally {
      await handle.close();
    }
  }

  async getFile(bucket: string, key: string, file: string, signal?: AbortSignal): Promise<{ bytes: number }> {
    let body: Readable;
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key }),
        signal ? { abortSignal: signal } : {},
      );
      if (!res.Body) throw new Error(`s3://${bucket}/${key} came back without a body`);
      body = res.Body as Readable;
    } catch (err) {
      throw s3Error(err, 'getObject', bucket, key);
    }
    try {
      await pipeline(body, createWriteStream(file), signal ? { signal } : {});
    } catch (err) {
      await rm(file, { force: true });
      throw new Error(`downloading s3://${bucket}/${key} to ${file} failed: ${(err as Error).message}`);
    }
    return { bytes: (await stat(file)).size };
  }

  async headObject(bucket: string, key: string): Promise<StoredObjectHead | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.Metadata ?? {})) metadata[k.toLowerCase()] = v;
      return { size: res.ContentLength ?? 0, metadata };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (errorCode(err) === 'NotFound' || errorCode(err) === 'NoSuchKey' || status === 404) return null;
      throw s3Error(err, 'headObject', bucket, key);
    }
  }

  close(): void {
    this.client.destroy();
  }
}

async function readPart(handle: FileHandle, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let off = 0;
  while (off < length) {
    const { bytesRead } = await handle.read(buf, off, length - off, start + off);
    if (bytesRead === 0)
      throw new Error(`the file ended ${length - off} bytes early (did it change while uploading?)`);
    off += bytesRead;
  }
  return buf;
}

function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

function errorCode(err: unknown): string {
  const e = err as { name?: string; Code?: string };
  return e.Code ?? e.name ?? 'Error';
}

function s3Error(err: unknown, op: keyof typeof PERMISSION, bucket: string, key?: string): Error {
  const code = errorCode(err);
  const message = (err as { message?: string }).message ?? String(err);
  const what = {
    get: 'reading the lifecycle configuration of',
    put: 'writing the lifecycle configuration of',
    delete: 'deleting the lifecycle configuration of',
    list: 'listing',
    putObject: `uploading ${key ?? ''} to`,
    getObject: `downloading ${key ?? ''} from`,
    headObject: `reading the metadata of ${key ?? ''} in`,
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
