/**
 * The pipeline configuration (a YAML or JSON file, mounted from the `floe-pipeline` ConfigMap in the cluster): which
 * topic goes to which tables, how they are partitioned, which payload fields are binaries (claim-check), declared
 * field types, the audit rules, the batch gate, and the writer's group-commit bounds. Validated at start: a bad file
 * fails fast with the offending field named.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { Cron } from 'croner';
import { z } from 'zod';
import { REF_NAME_PATTERN } from '../catalog/nessie/paths.ts';
import { parseByteSize, parseDuration } from '../util/duration.ts';

const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: '${value}' (use e.g. 500ms, 30s, 5m, 1h, 3d)` });
    return z.NEVER;
  }
  return ms;
});

const byteSize = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const bytes = parseByteSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a byte size: '${value}' (use e.g. 4KiB, 16MiB)` });
    return z.NEVER;
  }
  return bytes;
});

const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*$/, 'must be lower-case letters, digits and _ (an Iceberg/SQL-friendly name)');

/** Iceberg primitive types a payload field may be declared as. */
export const DECLARABLE_TYPES = [
  'boolean',
  'int',
  'long',
  'float',
  'double',
  'date',
  'timestamp',
  'timestamptz',
  'string',
  'uuid',
  'binary',
] as const;

const range = z
  .object({ min: z.number().optional(), max: z.number().optional() })
  .strict()
  .refine((r) => r.min !== undefined || r.max !== undefined, 'a range needs min or max');

const rulesSchema = z
  .object({
    /** Fields that must be present and not null. */
    required: z.array(z.string()).default([]),
    /** Numeric bounds per field (inclusive). */
    ranges: z.record(z.string(), range).default({}),
    /** Allowed values per field. */
    enums: z.record(z.string(), z.array(z.union([z.string(), z.number(), z.boolean()])).min(1)).default({}),
    /**
     * Values that must be unique (within the batch and against what is already published): a field name, or a list
     * of fields that are unique together (e.g. `[sensor_id, timestamp]`).
     */
    unique: z
      .array(z.union([z.string(), z.array(z.string()).min(1)]))
      .default([])
      .transform((keys) => keys.map((k) => (Array.isArray(k) ? k : [k]))),
    /** Event-time sanity, applied to the topic's `eventTime` field. */
    maxFutureSkew: duration.default(5 * 60_000),
    maxAge: duration.default(365 * 86_400_000),
  })
  .strict();

export type AuditRules = z.output<typeof rulesSchema>;

const topicSchema = z
  .object({
    /** Base table name: `staging.<table>`, `production.<table>`, `production.<table>_untrusted`. */
    table: identifier,
    /** How record values are read: JSON objects (default), text lines (→ `message`), or opaque binaries (→ `value`). */
    format: z.enum(['json', 'text', 'binary']).default('json'),
    /** Payload field holding the event time (parsed as timestamptz); partition transforms usually use it. */
    eventTime: z.string().optional(),
    /** Partition fields, e.g. `day(timestamp)`, `hour(timestamp)`, `bucket(16, car_id)`, `identity(slot)`. */
    partitionBy: z
      .array(
        z
          .string()
          .regex(
            /^(identity|year|month|day|hour|void)\([a-z_][a-z0-9_.]*\)$|^(bucket|truncate)\(\d+,\s*[a-z_][a-z0-9_.]*\)$/i,
            'must look like day(field), hour(field), identity(field), bucket(N, field) or truncate(W, field)',
          ),
      )
      .default([]),
    /** Declared payload field types; undeclared fields are inferred from the JSON and added as optional columns. */
    fields: z.record(z.string(), z.enum(DECLARABLE_TYPES)).default({}),
    /** Payload fields carrying binaries (base64 strings or byte arrays): stored as blobs, replaced by a FILE struct. */
    binaryFields: z.array(z.string()).default([]),
    rules: rulesSchema.default(rulesSchema.parse({})),
  })
  .strict();

export type TopicConfig = z.output<typeof topicSchema>;

/**
 * What one record may bring (checked while the tagger parses it and the writer infers its columns). A record over a
 * limit is not an outage: it lands in `_untrusted` with the reason and its raw bytes.
 */
const limitsSchema = z
  .object({
    /** Deepest nesting of objects and arrays in a record value (the record itself is level 1). */
    maxDepth: z.number().int().min(1).max(512).default(64),
    /** Largest record value. */
    maxRecordBytes: byteSize.default(1024 * 1024),
    /** Longest string value, in characters (UTF-16 code units); claim-checked binary fields are exempt. */
    maxStringLength: z
      .number()
      .int()
      .positive()
      .default(256 * 1024),
    /** Most fields in one record, counted at every nesting level. */
    maxFields: z.number().int().positive().default(1000),
    /** Longest field name, in characters. */
    maxFieldNameLength: z.number().int().positive().default(255),
    /** New columns (nested fields included) one batch may add; records bringing more are untrusted. */
    maxNewColumnsPerBatch: z.number().int().nonnegative().default(100),
  })
  .strict();

export type RecordLimits = z.output<typeof limitsSchema>;

/**
 * A scheduled dataset tag (`shared/maintenance/scheduled-tags.ts`): `name` is a template with `{date}` (YYYY-MM-DD)
 * and/or `{time}` (HHmm) of the scheduled time, UTC; `schedule` a 5-field cron (UTC); `retention` how long the tag and
 * its Iceberg refs live (none: kept until deleted by hand).
 */
const tagScheduleSchema = z
  .object({
    name: z
      .string()
      .refine(
        (n) => /\{(date|time)\}/.test(n),
        'must contain {date} or {time}, so each scheduled tag gets its own name',
      )
      .refine(
        (n) => REF_NAME_PATTERN.test(n.replaceAll('{date}', '2026-01-31').replaceAll('{time}', '2359')),
        'must render to a Nessie tag name (letters, digits, ./_-, starting with a letter)',
      ),
    schedule: z.string().refine((expr) => {
      try {
        return (
          expr.trim().split(/\s+/).length === 5 &&
          new Cron(expr, { paused: true, timezone: 'Etc/UTC' }).nextRun() !== null
        );
      } catch {
        return false;
      }
    }, 'must be a 5-field cron expression, e.g. 0 0 * * *'),
    retention: duration.refine((ms) => ms > 0, 'must be positive').optional(),
    /** The branch tagged. */
    ref: z.string().default('main'),
    message: z.string().optional(),
  })
  .strict();

export type TagSchedule = z.output<typeof tagScheduleSchema>;

const pipelineSchema = z
  .object({
    namespaces: z
      .object({ staging: identifier.default('staging'), production: identifier.default('production') })
      .strict()
      .default({ staging: 'staging', production: 'production' }),
    batch: z
      .object({
        maxRows: z.number().int().positive().default(10_000),
        maxBytes: byteSize.default(32 * 1024 * 1024),
        linger: duration.default(1000),
      })
      .strict()
      .default({ maxRows: 10_000, maxBytes: 32 * 1024 * 1024, linger: 1000 }),
    claimCheck: z
      .object({
        /** Binaries up to this size stay inline in the row (still with their sha256). */
        inlineMaxBytes: byteSize.default(1024),
        /** Object prefix under the warehouse. */
        prefix: z.string().default('blobs/'),
      })
      .strict()
      .default({ inlineMaxBytes: 1024, prefix: 'blobs/' }),
    audit: z
      .object({
        /** A batch whose share of untrusted rows exceeds this fails as a whole. */
        maxUntrustedRatio: z.number().min(0).max(1).default(0.5),
        /** Batches smaller than this are never failed by the ratio (one bad record in a tiny batch is not a bad batch). */
        minRowsForGate: z.number().int().nonnegative().default(20),
      })
      .strict()
      .default({ maxUntrustedRatio: 0.5, minRowsForGate: 20 }),
    limits: limitsSchema.default(limitsSchema.parse({})),
    topics: z.record(z.string(), topicSchema).default({}),
    /** Topics not listed: routed to a table named after the topic (non-identifier characters → `_`), no rules. */
    routeUnknownTopics: z.boolean().default(true),
    /** Dataset tags taken on a schedule by the janitor's `tags` job. */
    tags: z
      .array(tagScheduleSchema)
      .default([])
      .refine(
        (tags) => new Set(tags.map((t) => t.name)).size === tags.length,
        'two schedules have the same name template',
      ),
  })
  .strict();

export type PipelineConfig = z.output<typeof pipelineSchema>;

/** Ingestion-metadata columns usable as partition sources without a declaration (see `shared/wap/staging-rows.ts`). */
const INGESTION_COLUMNS = ['_ingested_at', '_kafka_time', '_kafka_partition', '_topic'];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describeIssues(error: z.ZodError, source: string): string {
  return (
    `invalid pipeline configuration in ${source}:\n` +
    error.issues
      .map((issue) => `  - ${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
      .join('\n')
  );
}

export function parsePipelineConfig(value: unknown, source = 'pipeline config'): PipelineConfig {
  const result = pipelineSchema.safeParse(value ?? {});
  if (!result.success) throw new ConfigError(describeIssues(result.error, source));
  for (const [topic, config] of Object.entries(result.data.topics)) {
    for (const partition of config.partitionBy) {
      const column = /\(\s*(?:\d+\s*,\s*)?([\w.]+)\s*\)/.exec(partition)?.[1];
      if (column && !(column in config.fields) && !INGESTION_COLUMNS.includes(column)) {
        throw new ConfigError(
          `invalid pipeline configuration in ${source}: topics.${topic}.partitionBy: '${partition}' needs '${column}' declared under topics.${topic}.fields (or an ingestion column: ${INGESTION_COLUMNS.join(', ')})`,
        );
      }
    }
    if (
      config.eventTime &&
      config.fields[config.eventTime] !== 'timestamptz' &&
      config.fields[config.eventTime] !== 'timestamp'
    ) {
      throw new ConfigError(
        `invalid pipeline configuration in ${source}: topics.${topic}.eventTime: '${config.eventTime}' must be declared as timestamptz under topics.${topic}.fields`,
      );
    }
    for (const field of [
      ...config.rules.required,
      ...Object.keys(config.rules.ranges),
      ...Object.keys(config.rules.enums),
    ]) {
      if (config.binaryFields.includes(field) && !config.rules.required.includes(field)) {
        throw new ConfigError(
          `invalid pipeline configuration in ${source}: topics.${topic}.rules: ${field} is a binary field; only 'required' applies to it`,
        );
      }
    }
  }
  return result.data;
}

export function loadPipelineConfig(file: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read pipeline configuration ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`pipeline configuration ${file} is not valid YAML/JSON: ${(err as Error).message}`);
  }
  return parsePipelineConfig(value, file);
}

export interface TableNames {
  staging: string;
  production: string;
  untrusted: string;
}

/** The topic's configuration, or the default for an unlisted topic (undefined when unknown topics are refused). */
export function topicConfig(config: PipelineConfig, topic: string): TopicConfig | undefined {
  const listed = config.topics[topic];
  if (listed) return listed;
  if (!config.routeUnknownTopics) return undefined;
  const table = topic
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .replace(/^([0-9])/, '_$1');
  return topicSchema.parse({ table });
}

export function tableNames(config: PipelineConfig, topic: TopicConfig): TableNames {
  return {
    staging: `${config.namespaces.staging}.${topic.table}`,
    production: `${config.namespaces.production}.${topic.table}`,
    untrusted: `${config.namespaces.production}.${topic.table}_untrusted`,
  };
}
