/**
 * Process configuration from the environment (ConfigMap `floe-config` and Secrets in the cluster; the local stack
 * sets the same variables). Validated at start: a bad value fails fast naming the variable.
 */
import { z } from 'zod';
import { createFileIO, fileLocation, type FileIO } from '../storage/file-io.ts';
import { parseByteSize } from '../util/duration.ts';
import { LOG_LEVELS, type LogLevel } from './logger.ts';
import { ConfigError, loadPipelineConfig, parsePipelineConfig, type PipelineConfig } from './pipeline-config.ts';

const optionalUrl = z.string().url().optional();
const flag = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1'));

// Digits only: z.coerce.number() would take '' as 0 (no cache at all) and '1e9' as a count.
const byteCount = z
  .string()
  .regex(/^\d+$/, 'not a plain byte count (digits only, e.g. 268435456)')
  .transform(Number)
  .refine(Number.isSafeInteger, 'too large');

/**
 * The Nessie REST base, without the API version: floe's client appends `/v2`, as Trino's catalog file in the `bi`
 * component does. Nessie's own docs give clients `…/api/v2`, so that form is the likely mistake; it is refused at
 * start rather than requested as `/api/v2/v2/…`.
 */
export function nessieUriProblem(uri: string): string | undefined {
  if (/\/v[12]\/*$/.test(uri))
    return `give the REST base without the API version (e.g. http://nessie:19120/api): floe appends /v2 itself, not '${uri}'`;
  return undefined;
}

/** Throws the start-up error `loadEnv` would give for this `NESSIE_URI`, for callers that read it on their own. */
export function checkNessieUri(uri: string): void {
  const problem = nessieUriProblem(uri);
  if (problem) throw new ConfigError(`invalid environment:\n  - NESSIE_URI: ${problem}`);
}

const envSchema = z.object({
  /** Warehouse root: `s3://bucket/prefix/` or `file:///dir/` (or an absolute path). */
  FLOE_WAREHOUSE: z.string().min(1),
  /** Nessie REST base, e.g. `http://nessie:19120/api`. */
  NESSIE_URI: z
    .string()
    .url()
    .superRefine((uri, ctx) => {
      const problem = nessieUriProblem(uri);
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    }),
  NESSIE_TOKEN: z.string().optional(),
  S3_ENDPOINT: optionalUrl,
  S3_REGION: z.string().optional(),
  S3_FORCE_PATH_STYLE: flag,
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  /** Pipeline configuration file (YAML/JSON); defaults apply when unset. */
  FLOE_CONFIG: z.string().optional(),
  /** Broker ingress for functions that emit on their own (SinkBinding injects it). */
  K_SINK: optionalUrl,
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  FLOE_BODY_LIMIT: z.string().optional(),
  FLOE_BATCH_MAX_ROWS: z.coerce.number().int().positive().optional(),
  FLOE_BATCH_MAX_BYTES: z.string().optional(),
  FLOE_BATCH_LINGER_MS: z.coerce.number().int().nonnegative().optional(),
  /** Name of this process's function (tagger, writer, …). */
  FLOE_FUNCTION: z.string().optional(),
  /** How commits and emitted events identify their author. */
  FLOE_AUTHOR: z.string().default('floe'),
  FLOE_LOG_LEVEL: z.enum(LOG_LEVELS).optional(),
  FLOE_LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  /** Set by the local stack only: stdin is a pipe from the parent, and its end means the parent is gone. */
  FLOE_EXIT_WITH_PARENT: flag,
  /** The auditor's cache of Parquet bloom filters across batches: a plain byte count. */
  FLOE_AUDIT_BLOOM_CACHE_BYTES: byteCount.optional(),
});

/** 256 MiB holds the filters of ~25 M unique keys at the default fpp. */
export const DEFAULT_AUDIT_BLOOM_CACHE_BYTES = 256 * 1024 * 1024;

export interface FloeEnv {
  warehouse: string;
  nessieUri: string;
  nessieToken?: string;
  s3?: { endpoint?: string; region?: string; forcePathStyle?: boolean; accessKeyId?: string; secretAccessKey?: string };
  pipeline: PipelineConfig;
  sink?: string;
  port: number;
  bodyLimitBytes: number;
  functionName?: string;
  author: string;
  /** Unset: the logger's own choice (`FLOE_LOG_*` unset means info, json off a terminal). */
  logLevel?: LogLevel;
  logFormat?: 'json' | 'pretty';
  exitWithParent: boolean;
  auditBloomCacheBytes: number;
}

/** Reads and validates the environment; throws `ConfigError` naming every bad variable. */
export function loadEnv(env: NodeJS.ProcessEnv = process.env): FloeEnv {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      'invalid environment:\n' + result.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n'),
    );
  }
  const e = result.data;
  const bodyLimitBytes = e.FLOE_BODY_LIMIT === undefined ? 16 * 1024 * 1024 : parseByteSize(e.FLOE_BODY_LIMIT);
  if (bodyLimitBytes === undefined)
    throw new ConfigError(`invalid environment:\n  - FLOE_BODY_LIMIT: not a byte size: '${e.FLOE_BODY_LIMIT}'`);
  const pipeline = e.FLOE_CONFIG ? loadPipelineConfig(e.FLOE_CONFIG) : parsePipelineConfig({}, 'defaults');
  if (e.FLOE_BATCH_MAX_ROWS !== undefined) pipeline.batch.maxRows = e.FLOE_BATCH_MAX_ROWS;
  if (e.FLOE_BATCH_MAX_BYTES !== undefined) {
    const bytes = parseByteSize(e.FLOE_BATCH_MAX_BYTES);
    if (bytes === undefined)
      throw new ConfigError(
        `invalid environment:\n  - FLOE_BATCH_MAX_BYTES: not a byte size: '${e.FLOE_BATCH_MAX_BYTES}'`,
      );
    pipeline.batch.maxBytes = bytes;
  }
  if (e.FLOE_BATCH_LINGER_MS !== undefined) pipeline.batch.linger = e.FLOE_BATCH_LINGER_MS;
  const warehouse = normalizeWarehouse(e.FLOE_WAREHOUSE);
  const usesS3 = warehouse.startsWith('s3://');
  return {
    warehouse,
    nessieUri: e.NESSIE_URI.replace(/\/+$/, ''),
    ...(e.NESSIE_TOKEN ? { nessieToken: e.NESSIE_TOKEN } : {}),
    ...(usesS3 || e.S3_ENDPOINT
      ? {
          s3: {
            endpoint: e.S3_ENDPOINT,
            region: e.S3_REGION,
            forcePathStyle: e.S3_FORCE_PATH_STYLE,
            accessKeyId: e.AWS_ACCESS_KEY_ID,
            secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
          },
        }
      : {}),
    pipeline,
    ...(e.K_SINK ? { sink: e.K_SINK } : {}),
    port: e.PORT,
    bodyLimitBytes,
    ...(e.FLOE_FUNCTION ? { functionName: e.FLOE_FUNCTION } : {}),
    author: e.FLOE_AUTHOR,
    ...(e.FLOE_LOG_LEVEL ? { logLevel: e.FLOE_LOG_LEVEL } : {}),
    ...(e.FLOE_LOG_FORMAT ? { logFormat: e.FLOE_LOG_FORMAT } : {}),
    exitWithParent: e.FLOE_EXIT_WITH_PARENT ?? false,
    auditBloomCacheBytes: e.FLOE_AUDIT_BLOOM_CACHE_BYTES ?? DEFAULT_AUDIT_BLOOM_CACHE_BYTES,
  };
}

/** `s3a://b/p` → `s3://b/p/`; `/dir` → `file:///dir/`; always ends with `/`. */
export function normalizeWarehouse(location: string): string {
  let url = location.replace(/^s3[an]:\/\//, 's3://');
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) url = fileLocation(url);
  return url.endsWith('/') ? url : `${url}/`;
}

/** FileIO for the warehouse (and any other `s3://` bucket when S3 is configured; local files for `file:`). */
export function warehouseIO(env: Pick<FloeEnv, 'warehouse' | 's3'>): FileIO {
  return createFileIO({
    ...(env.s3 ? { s3: { ...env.s3 } } : {}),
    localFiles: env.warehouse.startsWith('file:'),
  });
}
