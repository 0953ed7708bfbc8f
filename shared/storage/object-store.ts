/**
 * One small object-storage interface used everywhere in floe. Keys are relative to the store's root and use `/`.
 * Implementations: a local directory (the embedded default) and S3 (MinIO, AWS, any S3 endpoint).
 */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

export interface PutOptions {
  contentType?: string;
  /** Fail with `PreconditionFailedError` if the object already exists (S3 `If-None-Match: *`). */
  ifNoneMatch?: '*';
}

export interface ListOptions {
  /** List keys strictly after this one (S3 `StartAfter`). */
  startAfter?: string;
  /** Keys fetched per request; the iterator pages transparently. */
  pageSize?: number;
}

export interface ObjectStore {
  /** Where the root lives, e.g. `file:///var/floe/warehouse/` or `s3://bucket/prefix/`. Always ends with `/`. */
  readonly url: string;
  get(key: string): Promise<Uint8Array>;
  /** Bytes `[offset, offset + length)`; a range past the end is clipped. */
  getRange(key: string, offset: number, length: number): Promise<Uint8Array>;
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  /** `undefined` when the object does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes many keys in as few requests as the backend allows; reports per-key failures instead of throwing. */
  deleteMany(keys: string[]): Promise<{ deleted: string[]; failed: { key: string; message: string }[] }>;
}

export class StorageError extends Error {
  constructor(
    message: string,
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export class NotFoundError extends StorageError {
  constructor(key: string, where: string) {
    super(`object not found: ${key} (in ${where})`, key);
    this.name = 'NotFoundError';
  }
}

export class PreconditionFailedError extends StorageError {
  constructor(key: string, where: string) {
    super(`object already exists: ${key} (in ${where})`, key);
    this.name = 'PreconditionFailedError';
  }
}

/** Rejects keys that could escape a store's root or are not plain relative paths. */
export function checkKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new StorageError('object key must be a non-empty string', key);
  if (key.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(key))
    throw new StorageError(`object key must be relative: ${key}`, key);
  if (key.includes('\\') || key.includes('\0'))
    throw new StorageError(`object key has a forbidden character: ${key}`, key);
  if (key.split('/').some((part) => part === '..' || part === '.'))
    throw new StorageError(`object key must not contain '.' or '..' segments: ${key}`, key);
  return key;
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
