/**
 * S3 (MinIO, AWS, any S3-compatible endpoint) as an object store, through @aws-sdk/client-s3.
 * Credentials come from the standard AWS chain (env, profile, web identity, IMDS) unless given explicitly.
 * Retries: the SDK's standard mode (exponential backoff with jitter, bounded by `maxAttempts`).
 * Large bodies go up as multipart uploads (@aws-sdk/lib-storage).
 */
import {
  S3Client,
  GetObjectCommand,
  PutObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  checkKey,
  NotFoundError,
  PreconditionFailedError,
  StorageError,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';

export interface S3Options {
  bucket: string;
  /** Key prefix inside the bucket that acts as the store's root (no leading `/`). */
  prefix?: string;
  endpoint?: string;
  region?: string;
  /** Path-style addressing (`http://host/bucket/key`), needed by MinIO and s3rver. */
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Total attempts per request including the first (SDK standard retry mode). Default 5. */
  maxAttempts?: number;
  /** Bodies at least this large are uploaded in parts. Default 16 MiB. */
  multipartThreshold?: number;
  /** Part size of multipart uploads. Default 8 MiB (S3 minimum is 5 MiB). */
  partSize?: number;
  client?: S3Client;
}

export function s3Client(options: Omit<S3Options, 'bucket' | 'prefix' | 'client'>): S3Client {
  // floe supports Node 20 with the SDK versions pinned in package-lock.json; the SDK's notice that future releases
  // need Node 22 would otherwise print on every command and function start.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const config: S3ClientConfig = {
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: 'standard',
  };
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.accessKeyId && options.secretAccessKey) {
    config.credentials = {
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
    };
  }
  return new S3Client(config);
}

const CONDITIONAL_CONFLICT_ATTEMPTS = 5;

function isConditionalConflict(err: unknown): boolean {
  const { name, $metadata } = (err ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'ConditionalRequestConflict' || $metadata?.httpStatusCode === 409;
}

export function s3Store(options: S3Options): ObjectStore {
  const client = options.client ?? s3Client(options);
  const bucket = options.bucket;
  const root = normalizePrefix(options.prefix ?? '');
  const url = `s3://${bucket}/${root}`;
  const where = `s3 store ${url}`;
  const multipartThreshold = options.multipartThreshold ?? 16 * 1024 * 1024;
  const partSize = Math.max(options.partSize ?? 8 * 1024 * 1024, 5 * 1024 * 1024);
  const fullKey = (key: string) => root + checkKey(key);

  const wrap = (key: string, err: unknown): never => {
    const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
    const name = (err as Error)?.name;
    if (status === 404 || name === 'NoSuchKey' || name === 'NotFound') throw new NotFoundError(key, where);
    if (status === 412 || name === 'PreconditionFailed') throw new PreconditionFailedError(key, where);
    throw new StorageError(`S3 request for ${key} in ${where} failed: ${(err as Error)?.message ?? String(err)}`, key, {
      cause: err,
    });
  };

  async function get(key: string): Promise<Uint8Array> {
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
      return await out.Body!.transformToByteArray();
    } catch (err) {
      return wrap(key, err);
    }
  }

  async function getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    try {
      const out = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: fullKey(key), Range: `bytes=${offset}-${offset + length - 1}` }),
      );
      return await out.Body!.transformToByteArray();
    } catch (err) {
      // A range that starts past the end: S3 answers 416, the local store an empty result.
      if ((err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 416)
        return new Uint8Array(0);
      return wrap(key, err);
    }
  }

  async function put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const params = {
      Bucket: bucket,
      Key: fullKey(key),
      Body: bytes,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
      ...(options.ifNoneMatch ? { IfNoneMatch: options.ifNoneMatch } : {}),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        if (bytes.byteLength >= multipartThreshold && !options.ifNoneMatch) {
          await new Upload({ client, params, partSize, queueSize: 4, leavePartsOnError: false }).done();
        } else {
          await client.send(new PutObjectCommand(params));
        }
        return;
      } catch (err) {
        // S3 answers 409 ConditionalRequestConflict to a create-if-absent while another write of the key is in flight,
        // and asks for a retry: its answer is then a success or the 412 this interface promises.
        if (options.ifNoneMatch && isConditionalConflict(err) && attempt < CONDITIONAL_CONFLICT_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
          continue;
        }
        wrap(key, err);
      }
    }
  }

  async function head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
      return { key, size: Number(out.ContentLength ?? 0), lastModified: out.LastModified ?? new Date(0) };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (status === 404 || (err as Error)?.name === 'NotFound') return undefined;
      return wrap(key, err);
    }
  }

  async function* list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let out;
      try {
        out = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: root + prefix,
            MaxKeys: options.pageSize ?? 1000,
            ...(token
              ? { ContinuationToken: token }
              : options.startAfter !== undefined
                ? { StartAfter: root + options.startAfter }
                : {}),
          }),
        );
      } catch (err) {
        wrap(prefix, err);
        return;
      }
      for (const item of out.Contents ?? []) {
        if (!item.Key) continue;
        yield {
          key: item.Key.slice(root.length),
          size: Number(item.Size ?? 0),
          lastModified: item.LastModified ?? new Date(0),
        };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async function del(key: string): Promise<void> {
    try {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (status === 404) return;
      wrap(key, err);
    }
  }

  async function deleteMany(keys: string[]) {
    const deleted: string[] = [];
    const failed: { key: string; message: string }[] = [];
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      try {
        const out = await client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: chunk.map((key) => ({ Key: fullKey(key) })), Quiet: false },
          }),
        );
        const errors = new Map(
          (out.Errors ?? []).map((e) => [e.Key?.slice(root.length) ?? '', e.Message ?? e.Code ?? 'delete failed']),
        );
        for (const key of chunk) {
          const message = errors.get(key);
          if (message) failed.push({ key, message });
          else deleted.push(key);
        }
      } catch (err) {
        for (const key of chunk) failed.push({ key, message: (err as Error).message });
      }
    }
    return { deleted, failed };
  }

  return { url, get, getRange, put, head, list, delete: del, deleteMany };
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  return trimmed && !trimmed.endsWith('/') ? `${trimmed}/` : trimmed;
}
