/**
 * The one commit path every writer uses (after Iceberg Java's SnapshotProducer): build the new metadata from a base,
 * write the metadata file, swap it in through the catalog's compare-and-swap port, and on conflict refresh the base
 * and re-apply, with bounded, backed-off retries. Several tables commit together (one atomic swap) when the port can
 * do that — the Nessie port does it in one Nessie commit.
 *
 * The table format knows no catalog: a catalog plugs in by implementing `CatalogPort`.
 */
import type { FileIO } from '../storage/file-io.ts';
import { metadataFileLocation, metadataVersion, serializeTableMetadata } from './metadata.ts';
import type { TableMetadata } from './types.ts';

export interface TableState {
  metadata: TableMetadata;
  metadataLocation: string;
}

export interface TableSwap {
  table: string;
  /** The state the change was built on; undefined when the table is being created. */
  base?: TableState;
  next: TableState;
}

/** A catalog's compare-and-swap over one or more tables. */
export interface CatalogPort {
  /** Current state of the tables (undefined for a table that does not exist) and a token for `swap`. */
  load(tables: string[]): Promise<{ token: unknown; states: Map<string, TableState | undefined> }>;
  /**
   * Atomically points every table at its `next` metadata, provided each is still at its `base`. Throws
   * `CommitConflictError` when some table moved (retry), `CommitStateUnknownError` when the outcome is unknown.
   * Returns the catalog's receipt of the commit (for Nessie: the new commit), passed back in `CommitResult`.
   */
  swap(token: unknown, swaps: TableSwap[]): Promise<unknown>;
}

/** The base moved under us; the change may be re-applied on the new base. */
export class CommitConflictError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommitConflictError';
  }
}

/** The change itself is no longer valid (e.g. the files it replaces are gone); retrying cannot help. */
export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** The swap may or may not have happened (timeout, lost response); files written must not be deleted. */
export class CommitStateUnknownError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommitStateUnknownError';
  }
}

/**
 * Builds a table's next metadata from its current base. Returning `base` unchanged means "nothing to commit".
 * `bases` holds every table of the same commit as loaded for this attempt, for changes that span tables.
 */
export type TableUpdate = (
  base: TableMetadata | undefined,
  attempt: number,
  bases: ReadonlyMap<string, TableMetadata | undefined>,
) => Promise<TableMetadata | undefined>;

export interface CommitOptions {
  io: FileIO;
  /** Attempts after the first. Default: the table property `commit.retry.num-retries` (Iceberg default 4). */
  retries?: number;
  minWaitMs?: number;
  maxWaitMs?: number;
  now?: () => number;
  onRetry?: (attempt: number, error: Error) => void;
}

export interface CommitResult {
  states: Map<string, TableState>;
  /** Attempts used (1 = no conflict). */
  attempts: number;
  /** Tables whose update reported no change. */
  unchanged: string[];
  /** What the catalog returned for the swap; undefined when nothing changed. */
  receipt?: unknown;
}

const DEFAULT_RETRIES = 4;

function propertyNumber(metadata: TableMetadata | undefined, key: string): number | undefined {
  const text = metadata?.properties[key];
  const n = text === undefined ? NaN : Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** Commits updates to several tables atomically: all land or none. */
export async function commitTables(
  port: CatalogPort,
  updates: Map<string, TableUpdate>,
  options: CommitOptions,
): Promise<CommitResult> {
  const now = options.now ?? Date.now;
  const tables = [...updates.keys()];
  let retries = options.retries;
  for (let attempt = 1; ; attempt++) {
    const { token, states } = await port.load(tables);
    if (retries === undefined) {
      retries = Math.max(
        ...tables.map((t) => propertyNumber(states.get(t)?.metadata, 'commit.retry.num-retries') ?? DEFAULT_RETRIES),
      );
    }
    const swaps: TableSwap[] = [];
    const unchanged: string[] = [];
    const bases = new Map([...states].map(([table, state]) => [table, state?.metadata]));
    for (const table of tables) {
      const base = states.get(table);
      const next = await updates.get(table)!(base?.metadata, attempt, bases);
      if (!next || next === base?.metadata) {
        unchanged.push(table);
        continue;
      }
      swaps.push({ table, base, next: await writeMetadataFile(options.io, base, next, now()) });
    }
    if (!swaps.length) {
      return {
        states: new Map([...states].filter((e): e is [string, TableState] => e[1] !== undefined)),
        attempts: attempt,
        unchanged,
      };
    }
    try {
      const receipt = await port.swap(token, swaps);
      const result = new Map<string, TableState>();
      for (const table of tables) {
        const swapped = swaps.find((s) => s.table === table);
        const state = swapped?.next ?? states.get(table);
        if (state) result.set(table, state);
      }
      return { states: result, attempts: attempt, unchanged, receipt };
    } catch (err) {
      if (!(err instanceof CommitConflictError)) throw err;
      // The swap definitely did not happen: the metadata files of this attempt are garbage.
      await options.io.deleteMany(swaps.map((s) => s.next.metadataLocation)).catch(() => undefined);
      if (attempt > retries) {
        throw new CommitConflictError(
          `commit to ${tables.join(', ')} failed after ${attempt} attempts: ${err.message}`,
          { cause: err },
        );
      }
      options.onRetry?.(attempt, err);
      const base = states.get(tables[0])?.metadata;
      const minWait = options.minWaitMs ?? propertyNumber(base, 'commit.retry.min-wait-ms') ?? 100;
      const maxWait = options.maxWaitMs ?? propertyNumber(base, 'commit.retry.max-wait-ms') ?? 60_000;
      await sleep(backoff(attempt, minWait, maxWait));
    }
  }
}

/** Commits one table. */
export async function commitTable(
  port: CatalogPort,
  table: string,
  update: TableUpdate,
  options: CommitOptions,
): Promise<TableState> {
  const result = await commitTables(port, new Map([[table, update]]), options);
  const state = result.states.get(table);
  if (!state) throw new ValidationError(`table ${table} does not exist and the update created nothing`);
  return state;
}

/** Exponential backoff with full jitter, as Iceberg's Tasks retry does. */
function backoff(attempt: number, minWaitMs: number, maxWaitMs: number): number {
  const ceiling = Math.min(maxWaitMs, minWaitMs * 2 ** (attempt - 1));
  return minWaitMs / 2 + Math.random() * Math.max(0, ceiling - minWaitMs / 2);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `next` as a new metadata file (never overwriting one), recording the base in the metadata log. */
async function writeMetadataFile(
  io: FileIO,
  base: TableState | undefined,
  next: TableMetadata,
  nowMs: number,
): Promise<TableState> {
  const previousMax = propertyNumber(next, 'write.metadata.previous-versions-max') ?? 100;
  const metadataLog = base
    ? [...next.metadataLog, { timestampMs: base.metadata.lastUpdatedMs, metadataFile: base.metadataLocation }].slice(
        -previousMax,
      )
    : next.metadataLog;
  const metadata: TableMetadata = {
    ...next,
    lastUpdatedMs: Math.max(nowMs, (base?.metadata.lastUpdatedMs ?? 0) + 1),
    metadataLog,
  };
  const version = base ? Math.max(metadataVersion(base.metadataLocation), 0) + 1 : 0;
  const metadataLocation = metadataFileLocation(metadata, version);
  await io.write(metadataLocation, serializeTableMetadata(metadata), {
    ifNoneMatch: '*',
    contentType: 'application/json',
  });
  return { metadata, metadataLocation };
}
