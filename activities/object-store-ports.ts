/**
 * The ports the object-storage steps of a backend flip use: the bucket (lifecycle configuration,
 * listing) and the metadata DB's references to objects in it. adapters/s3-object-store.ts and the
 * metadata-DB adapters implement them; declared here so activities/adapters.ts imports no adapter.
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
