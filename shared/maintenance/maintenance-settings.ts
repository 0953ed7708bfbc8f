/**
 * The janitor's and compactor's knobs from the environment (ConfigMap `floe-config`), validated at start:
 * `FLOE_ORPHAN_GRACE` (default 3d), `FLOE_REJECTED_RETENTION` (7d), `FLOE_STALL_AFTER` (2m), `FLOE_SNAPSHOT_MAX_AGE`
 * (1h). Durations as `30s`, `5m`, `1h`, `3d`.
 */
import { REWRITE_ENGINES, type RewriteEngine } from '../iceberg/rewrite-data.ts';
import { ConfigError } from '../runtime/pipeline-config.ts';
import { parseDuration } from '../util/duration.ts';
import { DEFAULT_REJECTED_RETENTION_MS, DEFAULT_STALL_AFTER_MS } from '../wap/branch-cleanup.ts';
import { DEFAULT_GRACE_MS } from './orphan-cleanup.ts';

export interface MaintenanceSettings {
  orphanGraceMs: number;
  rejectedRetentionMs: number;
  stallAfterMs: number;
  /** Snapshot expiry's age for tables without `history.expire.max-snapshot-age-ms`. */
  snapshotMaxAgeMs: number;
}

/**
 * floe commits a snapshot per table every batch (one every few seconds), where a Flink job commits once per
 * checkpoint: at Iceberg's 5-day default a table's metadata file would grow past 200,000 snapshots, and every commit
 * reads and rewrites that file whole. Measured: 1,530 snapshots (1.6 MB of metadata) made writing, auditing and
 * publishing a 130-row batch 44% dearer. An hour, expired by the hourly compaction run, keeps at most two.
 */
export const DEFAULT_SNAPSHOT_MAX_AGE_MS = 3_600_000;

const VARIABLES = {
  orphanGraceMs: ['FLOE_ORPHAN_GRACE', DEFAULT_GRACE_MS],
  rejectedRetentionMs: ['FLOE_REJECTED_RETENTION', DEFAULT_REJECTED_RETENTION_MS],
  stallAfterMs: ['FLOE_STALL_AFTER', DEFAULT_STALL_AFTER_MS],
  snapshotMaxAgeMs: ['FLOE_SNAPSHOT_MAX_AGE', DEFAULT_SNAPSHOT_MAX_AGE_MS],
} as const;

export function maintenanceSettings(env: NodeJS.ProcessEnv = process.env): MaintenanceSettings {
  const problems: string[] = [];
  const read = ([name, fallback]: readonly [string, number]) => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const ms = parseDuration(text);
    if (ms === undefined) problems.push(`  - ${name}: not a duration: '${text}' (use e.g. 30s, 5m, 1h, 3d)`);
    return ms ?? fallback;
  };
  const settings = {
    orphanGraceMs: read(VARIABLES.orphanGraceMs),
    rejectedRetentionMs: read(VARIABLES.rejectedRetentionMs),
    stallAfterMs: read(VARIABLES.stallAfterMs),
    snapshotMaxAgeMs: read(VARIABLES.snapshotMaxAgeMs),
  };
  if (problems.length) throw new ConfigError(`invalid environment:\n${problems.join('\n')}`);
  return settings;
}

/**
 * `FLOE_COMPACTION_ENGINE`: `duckdb` (default) copies file groups with DuckDB where the result is exact and falls
 * back to the JS rewrite elsewhere (tables with bloom filters among them) or when `@duckdb/node-api` is not installed;
 * `duckdb-bloom` copies tables with bloom filters with DuckDB too (about 3× less CPU, files 23–100% larger); `js`
 * always uses the JS rewrite (for an image built without DuckDB's native module).
 */
export function compactionEngine(env: NodeJS.ProcessEnv = process.env): RewriteEngine {
  const text = (env.FLOE_COMPACTION_ENGINE ?? '').trim().toLowerCase();
  if (text === '') return 'duckdb';
  if ((REWRITE_ENGINES as readonly string[]).includes(text)) return text as RewriteEngine;
  throw new ConfigError(
    `invalid environment:\n  - FLOE_COMPACTION_ENGINE: '${env.FLOE_COMPACTION_ENGINE}' (use ${REWRITE_ENGINES.join(' or ')})`,
  );
}
