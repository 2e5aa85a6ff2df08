/**
 * The ports the object-storage steps of a backend flip use: the bucket (lifecycle configuration,
 * listing) and the metadata DB's references to objects in it; and the files the upgrade's backup
 * keeps in a bucket. adapters/s3-object-store.ts and the metadata-DB adapters implement them;
 * declared here so activities/adapters.ts imports no adapter.
 */
import type { LifecycleConfig, LifecycleRule } from '../domain/lifecycle.js';

export interface ListedObject {
  key: string;
  size: number;
  /** ISO timestamp. */
  lastModified: string;
}

export interface ObjectStorePort {
  /** The bucket's lifecycle configuration; null when it has none. */
  getLifecycle(bucket: string): Promise<LifecycleConfig>;
  /** Replaces the whole configuration (as S3 does) with `rules`. */
  putLifecycle(bucket: string, rules: LifecycleRule[]): Promise<void>;
  deleteLifecycle(bucket: string): Promise<void>;
  /** Objects under `prefix`, a page at a time, in the bucket's key order (UTF-8 byte order). */
  listObjects(bucket: string, prefix: string): AsyncIterable<ListedObject[]>;
}

export interface ObjectReferencesPort {
  /**
   * The keys (bucket-relative) of the objects in `bucket` under `keyPrefix` that rows in the
   * metadata DB still reference, a page at a time, sorted in byte order and without repeats.
   */
  referencedKeys(bucket: string, keyPrefix: string): AsyncIterable<string[]>;
}

export interface PutFileOptions {
  /** The file's SHA-256 (hex): sent with the upload so the store refuses bytes that differ. */
  sha256: string;
  /** Files larger than this go up in parts of this size (multipart upload). Default 64 MiB, minimum 5 MiB. */
  partSizeBytes?: number;
  /** Stored with the object (user metadata). */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

export interface StoredObjectHead {
  size: number;
  /** User metadata, keys lower-case. */
  metadata: Record<string, string>;
}

/** Whole files in a bucket: what the upgrade's backup uploads and downloads (a pg_dump archive). */
export interface ObjectFilePort {
  /** Uploads `file` as the object `key` (replacing it); returns how many parts it took. */
  putFile(bucket: string, key: string, file: string, opts: PutFileOptions): Promise<{ parts: number }>;
  /** Downloads the object into `file` (created or replaced); returns its size. */
  getFile(bucket: string, key: string, file: string, signal?: AbortSignal): Promise<{ bytes: number }>;
  /** The object's size and metadata; null when there is no such object. */
  headObject(bucket: string, key: string): Promise<StoredObjectHead | null>;
}
