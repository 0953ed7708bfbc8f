/**
 * The publisher's step: make an audited batch visible on `main` in one atomic step across its tables.
 *
 * 1. If `main` already holds every Kafka coordinate of the batch (a redelivery, or a concurrent publisher won), there
 *    is nothing to add.
 * 2. Otherwise try a Nessie merge of the branch into `main` with the staging table dropped: it succeeds when nobody
 *    changed the topic's tables on `main` since the branch was cut.
 * 3. When `main` moved (VALUE_DIFFERS — the normal case with concurrent batches), rebase at the Iceberg level: append the
 *    batch's data files onto `main`'s current metadata of each table and commit all tables in one Nessie commit with
 *    compare-and-swap, retried. Rows whose coordinates `main` already has are filtered out; files are rewritten only
 *    when their schema or partition layout no longer matches `main`'s. Never FORCE.
 * A passed batch's branch is then deleted; a failed batch publishes only its `_untrusted` rows and keeps its branch.
 *
 * A rebase also asks for the table properties floe derives from the config (bloom filters on the `unique` key columns,
 * `shared/wap/table-properties.ts`) on `main`'s production table, in the same commit, adding only what is missing:
 * a merge carries them from the branch, and main's other properties (another engine's) are kept either way.
 *
 * A rebase also checks the batch's trusted rows against the `unique` keys `main`'s production table gained since the
 * batch's base (concurrent batches the audit could not see): a repeat goes to `_untrusted` with the auditor's duplicate
 * reason in the same commit, checked again on every retry. A plain merge needs no such check: Nessie merges only when
 * the branch's tables did not change on `main` since the branch was cut (VALUE_DIFFERS otherwise).
 *
 * One record never stalls the publish: when a concurrent batch gave a new column another type on `main` first, the
 * trusted rows whose value `main`'s column cannot hold go to `_untrusted` with the reason (their bytes taken from the
 * staging table on the branch), and `_untrusted` rows lose just the payload fields that do not fit (`_raw` keeps them).
 */
import type { BatchAudited, BatchPublished, BatchRejected } from '../../shared/events/contract.ts';
import { NessieNotFoundError, NessieReferenceConflictError } from '../../shared/catalog/nessie/index.ts';
import {
  commitOnBranch,
  loadTables,
  newTableLocation,
  tableKey,
  type LoadedTable,
} from '../../shared/catalog/table-catalog.ts';
import type { TableUpdate } from '../../shared/iceberg/commit.ts';
import { assignFreshIds, setCurrentSchema, unionByName } from '../../shared/iceberg/evolution.ts';
import {
  ancestors,
  currentSchema,
  defaultSpec,
  newTableMetadata,
  snapshotForRef,
  specById,
} from '../../shared/iceberg/metadata.ts';
import { readDataFile } from '../../shared/iceberg/parquet-reader.ts';
import { appendFiles, readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import { rowProblem } from '../../shared/iceberg/parquet-writer.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { EntryStatus, type DataFile, type Snapshot, type TableMetadata } from '../../shared/iceberg/types.ts';
import { duplicateReason, uniqueKey, uniqueName } from '../../shared/quality/rules.ts';
import { tableNames, topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { bareObject, ownValue } from '../../shared/util/bare-object.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { branchHead, Property } from '../../shared/wap/batch-branches.ts';
import { BatchGoneError } from '../../shared/wap/batch-branches.ts';
import { type WapContext } from '../../shared/wap/wap-context.ts';
import { withUniqueKeyBloomFilters } from '../../shared/wap/table-properties.ts';
import {
  CARRIED_SUMMARY_PREFIXES,
  containsOffset,
  coversAll,
  logClosedHoles,
  mergeRanges,
  overlaps,
  rangesFromPayload,
  rangesToPayload,
  type OffsetRanges,
} from '../../shared/wap/kafka-offsets.ts';
import { confirmedOffsets, offsetsSummary, type PublishedOffsets } from '../../shared/wap/published-offsets.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import {
  fitUntrustedRow,
  mismatchReason,
  sameFieldIds,
  untrustedStruct,
  withConfigPartitioning,
  withCurrentColumnNames,
} from '../../shared/wap/table-layout.ts';

export type PublishOutcome = { kind: 'published'; event: BatchPublished } | { kind: 'rejected'; event: BatchRejected };

/** The data files `snapshot` added to its table. */
async function addedFiles(ctx: WapContext, metadata: TableMetadata, snapshot: Snapshot): Promise<DataFile[]> {
  const files: DataFile[] = [];
  for (const manifest of await readManifestFiles(ctx.catalog.io, snapshot)) {
    if (manifest.addedSnapshotId !== snapshot.snapshotId) continue;
    for (const entry of await readManifestEntries(ctx.catalog.io, manifest, metadata)) {
      if (entry.status === EntryStatus.ADDED && entry.snapshotId === snapshot.snapshotId) files.push(entry.dataFile);
    }
  }
  return files;
}

/**
 * The data files a branch's table gained in the batch's own snapshot, and the snapshot the batch was appended to
 * (`main`'s at the branch cut; undefined when the table was created on the branch).
 */
async function batchFiles(
  ctx: WapContext,
  table: LoadedTable,
  batchId: string,
): Promise<{ files: DataFile[]; metadata: TableMetadata; base?: bigint }> {
  const { metadata } = table;
  const snapshot = ancestors(metadata, snapshotForRef(metadata, 'main')?.snapshotId).find(
    (s) => s.summary[Property.batchId] === batchId,
  );
  if (!snapshot) return { files: [], metadata };
  return { files: await addedFiles(ctx, metadata, snapshot), metadata, base: snapshot.parentSnapshotId };
}

/** The `unique` rules whose columns both tables have, with the columns' field ids in each. */
function uniqueColumns(
  rules: string[][],
  from: TableMetadata,
  to: TableMetadata,
): { fields: string[]; fromIds: number[]; toIds: number[] }[] {
  const idsIn = (metadata: TableMetadata, fields: string[]) => {
    const columns = currentSchema(metadata).fields;
    const ids = fields.map((name) => columns.find((c) => c.name === name)?.id);
    return ids.every((id) => id !== undefined) ? (ids as number[]) : undefined;
  };
  const out: { fields: string[]; fromIds: number[]; toIds: number[] }[] = [];
  for (const fields of rules) {
    const fromIds = idsIn(from, fields);
    const toIds = idsIn(to, fields);
    if (fromIds && toIds) out.push({ fields, fromIds, toIds });
  }
  return out;
}

/**
 * The batch's rows that repeat a `unique` key which `main`'s production table gained after the batch's base snapshot —
 * rows of concurrent batches published since, which the audit (against `main` as it was then) could not see — by
 * coordinate, with the auditor's duplicate reason. Only the key columns of the files added since the base are read,
 * each file once per publish (`cache`, by columns and path: data files never change). When expiry cut `main`'s history
 * between the base and now, the files added since cannot be told apart: the whole table is searched for the batch's
 * keys instead, as the audit does. Rows whose coordinates `main` already holds are left out: they are dropped as
 * replays, not moved.
 */
async function repeatedKeys(
  ctx: WapContext,
  rules: string[][],
  batch: { files: DataFile[]; metadata: TableMetadata; base?: bigint },
  main: TableMetadata,
  published: OffsetRanges,
  cache: Map<string, Record<string, unknown>[]>,
): Promise<Map<string, string>> {
  const repeated = new Map<string, string>();
  const columns = uniqueColumns(rules, batch.metadata, main);
  if (!columns.length) return repeated;
  const read = async (metadata: TableMetadata, file: DataFile, projection: number[]) => {
    const cacheKey = `${projection.join(',')} ${file.filePath}`;
    const cached = cache.get(cacheKey);
    if (cached) return cached;
    const rows = await readDataFile(ctx.catalog.io, {
      location: file.filePath,
      schema: currentSchema(metadata),
      fileSize: file.fileSizeInBytes,
      projection,
    });
    cache.set(cacheKey, rows);
    return rows;
  };
  const keyOf = (row: Record<string, unknown>, fields: string[]) => {
    const values = fields.map((f) => ownValue(row, f));
    return values.some((v) => v === null || v === undefined) ? undefined : uniqueKey(values);
  };

  const since: Snapshot[] = [];
  let complete = false;
  for (const snapshot of ancestors(main, main.currentSnapshotId)) {
    if (snapshot.snapshotId === batch.base) {
      complete = true;
      break;
    }
    since.push(snapshot);
    if (snapshot.parentSnapshotId === undefined && batch.base === undefined) complete = true;
  }
  if (!since.length && (complete || main.currentSnapshotId === undefined || main.currentSnapshotId === -1n))
    return repeated;

  const schema = currentSchema(batch.metadata);
  const coordinateIds = [Column.partition, Column.offset].map((name) => schema.fields.find((f) => f.name === name)!.id);
  const batchIds = [...new Set([...columns.flatMap((c) => c.fromIds), ...coordinateIds])];
  const candidates: Record<string, unknown>[] = [];
  for (const file of batch.files) {
    for (const row of await read(batch.metadata, file, batchIds)) {
      if (!containsOffset(published, row[Column.partition] as number, row[Column.offset] as bigint))
        candidates.push(row);
    }
  }
  if (!candidates.length) return repeated;

  const onMain = new Map(columns.map((c) => [uniqueName(c.fields), new Set<string>()]));
  const collect = (rows: Record<string, unknown>[], only?: string[]) => {
    for (const row of rows) {
      for (const { fields } of columns) {
        if (only && uniqueName(fields) !== uniqueName(only)) continue;
        const key = keyOf(row, fields);
        if (key !== undefined) onMain.get(uniqueName(fields))!.add(key);
      }
    }
  };
  if (complete) {
    const mainIds = [...new Set(columns.flatMap((c) => c.toIds))];
    for (const snapshot of since)
      for (const file of await addedFiles(ctx, main, snapshot)) collect(await read(main, file, mainIds));
  } else {
    for (const { fields } of columns) {
      const valuesOf = (field: string) =>
        [...new Set(candidates.map((r) => ownValue(r, field)).filter((v) => v !== null && v !== undefined))] as (
          string | number | bigint
        )[];
      if (!valuesOf(fields[0]).length) continue;
      collect(
        await scanRows(main, {
          io: ctx.catalog.io,
          columns: fields,
          filter: { op: 'and', args: fields.map((f) => ({ op: 'in' as const, ref: f, values: valuesOf(f) })) },
        }),
        fields,
      );
    }
  }
  for (const row of candidates) {
    for (const { fields } of columns) {
      const key = keyOf(row, fields);
      if (key !== undefined && onMain.get(uniqueName(fields))!.has(key)) {
        repeated.set(
          coordinate(row),
          duplicateReason(
            fields,
            fields.map((f) => ownValue(row, f)),
          ),
        );
        break;
      }
    }
  }
  return repeated;
}

/** A row `target` cannot take, and why (the untrusted row's reason). */
interface Unfit {
  row: Record<string, unknown>;
  reason: string;
}

/**
 * Re-lays rows of the batch's files out under `target`, dropping rows whose coordinates are in `published`. With
 * `check`, rows `target` cannot take are not written but returned in `unfit`; so are the rows in `repeated` (by
 * coordinate, with their reason).
 */
async function rewriteFor(
  ctx: WapContext,
  source: TableMetadata,
  files: DataFile[],
  target: TableMetadata,
  published: OffsetRanges,
  check?: (row: Record<string, unknown>) => string | undefined,
  repeated?: Map<string, string>,
): Promise<{ rows: Record<string, unknown>[]; dropped: number; unfit: Unfit[] }> {
  const rows: Record<string, unknown>[] = [];
  const unfit: Unfit[] = [];
  let dropped = 0;
  for (const file of files) {
    for (const row of await readDataFile(ctx.catalog.io, {
      location: file.filePath,
      schema: currentSchema(source),
      fileSize: file.fileSizeInBytes,
    })) {
      if (containsOffset(published, row[Column.partition] as number, row[Column.offset] as bigint)) {
        dropped++;
        continue;
      }
      const duplicate = repeated?.get(coordinate(row));
      if (duplicate !== undefined) {
        unfit.push({ row, reason: duplicate });
        continue;
      }
      const problem = check?.(row);
      if (problem === undefined) rows.push(row);
      else unfit.push({ row, reason: mismatchReason(problem) });
    }
  }
  return { rows, dropped, unfit };
}

const coordinate = (row: Record<string, unknown>) => `${row[Column.partition]}:${row[Column.offset]}`;

/**
 * Publishes an audited batch. A redelivered `batch.audited` may be published by two replicas at once: when the other
 * one merged the batch and deleted its branch while this one was reading it, the branch is gone mid-publish — then a
 * second look finds the batch on `main` (a no-op) or, if it is not there, reports the batch as gone.
 */
export async function publishBatch(ctx: WapContext, audited: BatchAudited): Promise<PublishOutcome> {
  try {
    return await publishOnce(ctx, audited);
  } catch (err) {
    if (!(err instanceof NessieNotFoundError) || (await branchHead(ctx.catalog.client, audited.branch))) throw err;
    ctx.log.debug({ batchId: audited.batchId }, 'the batch branch went away while publishing: looking again');
    return publishOnce(ctx, audited);
  }
}

async function publishOnce(ctx: WapContext, audited: BatchAudited): Promise<PublishOutcome> {
  const { catalog, config } = ctx;
  const topic = topicConfig(config, audited.topic);
  if (!topic) throw new Error(`topic '${audited.topic}' is not configured`);
  const names = tableNames(config, topic);
  const passed = audited.verdict === 'passed';
  const toPublish = passed ? [names.production, names.untrusted] : [names.untrusted];
  const batchOffsets = rangesFromPayload(audited.offsets);
  const total = audited.trusted + audited.untrusted;
  const now = () => (ctx.now?.() ?? new Date()).toISOString();

  const finish = async (
    method: BatchPublished['method'],
    hash: string,
    duplicates: number,
    moved = 0,
  ): Promise<PublishOutcome> => {
    if (!passed) {
      return {
        kind: 'rejected',
        event: {
          batchId: audited.batchId,
          topic: audited.topic,
          table: audited.table,
          branch: audited.branch,
          hash: audited.hash,
          reason: audited.reason ?? 'batch failed the audit',
          untrusted: total,
          rejectedAt: now(),
        },
      };
    }
    await deleteBranch(ctx, audited.branch);
    return {
      kind: 'published',
      event: {
        batchId: audited.batchId,
        topic: audited.topic,
        table: audited.table,
        hash,
        trusted: audited.trusted - moved,
        untrusted: audited.untrusted + moved,
        duplicates,
        method,
        publishedAt: now(),
      },
    };
  };

  // What main holds of the batch, per state of its tables: the first look and every table's update of a commit attempt
  // ask, and an attempt on the tables the first look saw reuses its answer (a check against the rows reads files).
  const held = new Map<string, Promise<PublishedOffsets>>();
  const heldOn = (bases: ReadonlyMap<string, TableMetadata | undefined>) => {
    const state = [...bases].map(([name, metadata]) => `${name}@${metadata?.currentSnapshotId ?? 'none'}`).join(' ');
    let offsets = held.get(state);
    if (!offsets)
      held.set(state, (offsets = confirmedOffsets(catalog.io, [...bases.values()], audited.topic, batchOffsets)));
    return offsets;
  };
  const onMain = await loadTables(catalog, 'main', [names.production, names.untrusted]);
  const published = (await heldOn(new Map([...onMain.tables].map(([name, t]) => [name, t.metadata])))).ranges;
  if (coversAll(published, batchOffsets)) return finish('noop', onMain.hash, total);

  const head = await branchHead(catalog.client, audited.branch);
  if (!head)
    throw new BatchGoneError(
      `branch ${audited.branch} of batch ${audited.batchId} is gone and main does not hold the batch`,
    );
  const meta = {
    message: `floe: publish batch ${audited.batchId} (${audited.verdict}: ${audited.trusted} trusted, ${audited.untrusted} untrusted)`,
    properties: {
      [Property.batchId]: audited.batchId,
      [Property.stage]: passed ? 'published' : 'rejected',
      [Property.topic]: audited.topic,
      [Property.table]: audited.table,
    },
  };

  if (!overlaps(published, batchOffsets)) {
    const merged = await catalog.client.merge('main', onMain.hash, {
      fromRefName: audited.branch,
      fromHash: audited.hash,
      commitMeta: meta,
      keyMergeModes: [{ key: tableKey(names.staging), mergeBehavior: 'DROP' }],
      returnConflictAsResult: true,
    });
    if (merged.wasSuccessful && merged.wasApplied && merged.resultantTargetHash)
      return finish('merge', merged.resultantTargetHash, 0);
    ctx.log.debug(
      {
        batchId: audited.batchId,
        conflicts: merged.details.filter((d) => d.conflict).map((d) => d.conflict?.conflictType),
      },
      'main moved since the branch was cut: rebasing',
    );
  }

  const onBranch = await loadTables(catalog, `${audited.branch}@${audited.hash}`, [...toPublish, names.staging]);
  // A batch an earlier floe wrote and audited is read under the current column names (same field ids).
  for (const table of onBranch.tables.values()) table.metadata = withCurrentColumnNames(table.metadata);
  const dropped = new Map<string, number>();
  const batches = new Map<string, { files: DataFile[]; metadata: TableMetadata }>();
  for (const name of toPublish) {
    const table = onBranch.tables.get(name);
    if (!table) continue;
    const found = await batchFiles(ctx, table, audited.batchId);
    if (found.files.length) batches.set(name, found);
  }
  if (!batches.size)
    throw new BatchGoneError(
      `batch ${audited.batchId}: its tables on ${audited.branch}@${audited.hash} hold no files of the batch`,
    );
  const staging = onBranch.tables.get(names.staging)?.metadata;
  // Trusted rows main's production table cannot take, found by the production update of the current attempt (which
  // runs before the untrusted one), and written by the untrusted update as untrusted rows.
  let demoted: Unfit[] = [];
  let demotedCount = 0;
  // Key columns of files read by the duplicate check, kept across attempts: a retry reads only what main gained since.
  const keyCache = new Map<string, Record<string, unknown>[]>();
  const updates = new Map<string, TableUpdate>();
  // A failed batch changes only the untrusted table, but the coordinates main holds are in both tables' summaries
  // (a batch without untrusted rows records its offsets in the production table alone): the production table is read
  // in the same compare-and-swap attempt, unchanged, so that a redelivered record is filtered against both.
  if (!passed) updates.set(names.production, async (base) => base);
  for (const name of toPublish) {
    const batch = batches.get(name);
    const isProduction = name === names.production;
    // The untrusted table may get rows from the production update even when the batch itself had none for it.
    if (!batch && (isProduction || !batches.has(names.production) || !staging)) continue;
    let laidOut: { key: string; files: DataFile[]; dropped: number; unfit: Unfit[] } | undefined;
    updates.set(name, async (base, attempt, bases) => {
      if (isProduction) demoted = [];
      const mainOffsets = await heldOn(bases);
      const mainRanges = mainOffsets.ranges;
      if (coversAll(mainRanges, batchOffsets)) return base;
      const extra = isProduction ? [] : demoted;
      const source = batch?.metadata ?? staging!;
      const sourceStruct = batch ? currentSchema(batch.metadata) : untrustedStruct(currentSchema(staging!));
      let target =
        base ??
        newTableMetadata({
          location: batch?.metadata.location ?? newTableLocation(catalog.warehouse, name),
          schema: batch
            ? currentSchema(batch.metadata)
            : { ...assignFreshIds(sourceStruct, { value: 0 }), schemaId: 0 },
          spec: defaultSpec(source),
          properties: source.properties,
        });
      const union = unionByName(currentSchema(target), sourceStruct, target.lastColumnId);
      if (union.changes.length) target = setCurrentSchema(target, union.schema, union.lastColumnId);
      // As for the properties below: a merge carries the auditor's partitioning, a rebase evolves main's table to it.
      target = withConfigPartitioning(target, topic);
      // A merge carries the properties the auditor set on the branch's table; a rebase builds on main's, which an
      // earlier floe (or another config) may have created without them. Only what is missing is added, in this
      // commit, and before the rows are laid out, so files rewritten here get the filters too.
      if (isProduction) target = withUniqueKeyBloomFilters(target, topic.rules.unique);
      if (extra.length && staging) {
        const more = unionByName(currentSchema(target), untrustedStruct(currentSchema(staging)), target.lastColumnId);
        if (more.changes.length) target = setCurrentSchema(target, more.schema, more.lastColumnId);
      }
      // Values main's columns cannot hold exist only when a column's type differs: only then is every row checked.
      const check = union.incompatible.length || extra.length ? rowProblem(currentSchema(target)) : undefined;
      // The audit saw main as it was; concurrent batches published since may have brought the same unique keys. A
      // plain merge needs no such check: it only succeeds when main's tables did not change since the branch was cut.
      const repeated =
        isProduction && batch && base && topic.rules.unique.length
          ? await repeatedKeys(ctx, topic.rules.unique, batch, base, mainRanges, keyCache)
          : new Map<string, string>();
      const files = batch?.files ?? [];
      const reusable =
        !check &&
        !extra.length &&
        !repeated.size &&
        !overlaps(mainRanges, batchOffsets) &&
        sameFieldIds(currentSchema(source), currentSchema(target)) &&
        files.every(
          (f) =>
            stringifyJson(specById(source, f.specId)) ===
            stringifyJson(target.partitionSpecs.find((s) => s.specId === f.specId) ?? null),
        );
      const key = reusable
        ? 'as-is'
        : stringifyJson([
            currentSchema(target),
            defaultSpec(target),
            rangesToPayload(mainRanges),
            extra.map((d) => [coordinate(d.row), d.reason]),
            [...repeated],
          ]);
      if (laidOut?.key !== key) {
        if (reusable) laidOut = { key, files, dropped: 0, unfit: [] };
        else {
          const {
            rows,
            dropped: gone,
            unfit,
          } = await rewriteFor(ctx, source, files, target, mainRanges, check, repeated);
          const tableRows = isProduction
            ? rows
            : [
                ...rows,
                ...unfit.map((u) => fitUntrustedRow(u.row, check!)),
                ...(await untrustedVersions(ctx, staging!, extra)).map((row) => fitUntrustedRow(row, check!)),
              ];
          laidOut = {
            key,
            files: await writeRows(catalog.io, target, tableRows),
            dropped: gone,
            unfit: isProduction ? unfit : [],
          };
        }
      }
      if (isProduction) {
        demoted = laidOut.unfit;
        demotedCount = demoted.length;
      }
      dropped.set(name, laidOut.dropped);
      if (!laidOut.files.length) return base;
      logClosedHoles(ctx.log, audited.topic, mergeRanges(mainRanges, batchOffsets));
      return appendFiles({
        io: catalog.io,
        files: laidOut.files,
        carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES,
        summary: { [Property.batchId]: audited.batchId, ...offsetsSummary(audited.topic, mainOffsets, batchOffsets) },
      })(target, attempt, bases);
    });
  }
  // A table of an earlier floe on main (main moved since the branch was cut, by a commit that did not rename it) is
  // renamed in the commit that publishes the batch, both tables of the topic together; not when main holds the batch
  // already, so a replay commits nothing.
  for (const name of [names.production, names.untrusted]) {
    const update = updates.get(name);
    updates.set(name, async (base, attempt, bases) => {
      const lands = !coversAll((await heldOn(bases)).ranges, batchOffsets);
      const named = base && lands ? withCurrentColumnNames(base) : base;
      return update ? update(named, attempt, bases) : named;
    });
  }
  // Retry generously: concurrent publishers of the same topic conflict on every commit until one of them wins.
  const commit = await commitOnBranch(catalog, 'main', updates, meta, { retries: 20, minWaitMs: 20, maxWaitMs: 2000 });
  if (!commit.hash) return finish('noop', (await catalog.client.getReference('main')).hash, total);
  return finish(
    'rebase',
    commit.hash,
    [...dropped.values()].reduce((a, b) => a + b, 0),
    demotedCount,
  );
}

/** Demoted trusted rows as untrusted rows: their staging rows (which keep `_raw`, `_errors`, `_headers`) plus the reason. */
async function untrustedVersions(
  ctx: WapContext,
  staging: TableMetadata,
  demoted: Unfit[],
): Promise<Record<string, unknown>[]> {
  if (!demoted.length) return [];
  const offsets = [...new Set(demoted.map((d) => d.row[Column.offset] as bigint))];
  const found = await scanRows(staging, {
    io: ctx.catalog.io,
    filter: { op: 'in', ref: Column.offset, values: offsets },
  });
  const byCoordinate = new Map(found.map((row) => [coordinate(row), row]));
  return demoted.map(({ row, reason }) => {
    const out = Object.assign(bareObject(), byCoordinate.get(coordinate(row)) ?? row);
    out[Column.reasons] = [reason];
    return out;
  });
}

/** Deletes a published batch's branch; someone else deleting it first is fine. */
async function deleteBranch(ctx: WapContext, branch: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const head = await branchHead(ctx.catalog.client, branch);
    if (!head) return;
    try {
      await ctx.catalog.client.deleteReference(branch, 'BRANCH', head.hash);
      return;
    } catch (err) {
      if (err instanceof NessieNotFoundError) return;
      if (!(err instanceof NessieReferenceConflictError)) throw err;
    }
  }
  ctx.log.warn({ branch }, 'could not delete the published batch branch; the janitor will');
}
