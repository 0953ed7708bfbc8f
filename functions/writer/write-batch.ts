/**
 * The writer's step of Write-Audit-Publish: one batch of tagged records of one topic becomes a Nessie branch
 * `wap/<table>/<batch>` from `main` holding `staging.<table>` with the batch as one append, in one Nessie commit.
 * The staging schema starts from the production table's (so a value that does not fit an existing column is caught
 * per row) and grows with new fields.
 *
 * One record never fails its batch: a record whose fields cannot become columns (too deep, unusable names, over the
 * batch's new-column budget), whose row cannot be built, or whose row the Parquet writer refuses becomes a row with
 * only its ingestion columns, its bytes and the reason — the auditor sends it to `_untrusted`.
 */
import type { BatchWritten, TaggedRecord } from '../../shared/events/contract.ts';
import { commitOnBranch, loadTables, newTableLocation } from '../../shared/catalog/table-catalog.ts';
import { assignFreshIds, unionByName } from '../../shared/iceberg/evolution.ts';
import { currentSchema, newTableMetadata } from '../../shared/iceberg/metadata.ts';
import type { Schema } from '../../shared/iceberg/types.ts';
import { appendFiles } from '../../shared/iceberg/snapshot.ts';
import { InvalidRowError } from '../../shared/iceberg/parquet-writer.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import type { FileIO } from '../../shared/storage/file-io.ts';
import { tableNames, topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { branchName, newBatchId, Property, Stage } from '../../shared/wap/batch-branches.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { offsetsSummaryKey, rangesOf, rangesToPayload, serializeRanges } from '../../shared/wap/kafka-offsets.ts';
import { inferBatch, stagingRow } from '../../shared/wap/staging-rows.ts';
import { specFromConfig, withCurrentColumnNames } from '../../shared/wap/table-layout.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';

/** Drops repeated Kafka coordinates (redeliveries inside one batch), keeping the first. */
export function dedupeByCoordinate(records: TaggedRecord[]): TaggedRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const key = `${r.topic}\u0000${r.partition}\u0000${r.offset}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * A staging file is written once and read once, by the auditor. ZSTD level 1 compresses a batch (mostly `_raw` bytes)
 * in about a third of level 3's CPU, and the file comes out about 5% larger.
 */
const STAGING_TABLE_PROPERTIES: Record<string, string> = { 'write.parquet.compression-level': '1' };

/** Writes a batch (records of one topic) to a new WAP branch; returns the `batch.written` payload. */
export async function writeBatch(ctx: WapContext, topic: string, batch: TaggedRecord[]): Promise<BatchWritten> {
  const { catalog, config } = ctx;
  const topicCfg = topicConfig(config, topic);
  if (!topicCfg) throw new Error(`topic '${topic}' is not configured`);
  const names = tableNames(config, topicCfg);
  const records = dedupeByCoordinate(batch);
  const now = ctx.now?.() ?? new Date();
  const batchId = newBatchId(now);
  const branch = branchName(topicCfg.table, batchId);

  const main = await catalog.client.getReference('main');
  const { tables } = await loadTables(catalog, `main@${main.hash}`, [names.production]);
  // An earlier floe's table is read as the auditor will commit it, renamed: the staging schema must give the Kafka
  // partition column its new name and its old field id, not add it as a new column.
  const loaded = tables.get(names.production)?.metadata;
  const production = loaded && withCurrentColumnNames(loaded);
  const { struct, rejected } = inferBatch(records, topicCfg, {
    limits: config.limits,
    ...(production ? { base: currentSchema(production) } : {}),
  });
  // Start from production's schema so existing columns keep their types; the staging table itself is new per batch.
  const union = production ? unionByName(currentSchema(production), struct, production.lastColumnId) : undefined;
  const schema: Schema = union
    ? { ...union.schema, schemaId: 0 }
    : { ...assignFreshIds(struct, { value: 0 }), schemaId: 0 };
  const staging = newTableMetadata({
    location: newTableLocation(catalog.warehouse, names.staging),
    schema,
    spec: specFromConfig(topicCfg.partitionBy, schema),
    properties: STAGING_TABLE_PROPERTIES,
  });
  const nowMicros = BigInt(now.getTime()) * 1000n;
  const rows = records.map((r) => {
    const reason = rejected.get(r);
    try {
      return stagingRow(r, schema, batchId, reason ? [reason] : [], nowMicros);
    } catch (err) {
      return stagingRow(
        r,
        schema,
        batchId,
        [`limit: its row could not be built: ${(err as Error).message}`],
        nowMicros,
      );
    }
  });
  const offsets = rangesOf(records.map((r) => ({ partition: r.partition, offset: BigInt(r.offset) })));

  await catalog.client.createReference(branch, 'BRANCH', { name: 'main', hash: main.hash });
  const files = await writeIsolated(catalog.io, staging, rows, (row, error) => {
    const record = records[rows.indexOf(row)];
    return stagingRow(record, schema, batchId, [`limit: its row could not be written: ${error.message}`], nowMicros);
  });
  if (rejected.size)
    ctx.log.info(
      { batchId, records: rejected.size, reasons: [...new Set(rejected.values())].slice(0, 5) },
      'records whose fields could not become columns go to _untrusted',
    );
  const result: BatchWritten = {
    batchId,
    branch,
    hash: '',
    topic,
    table: topicCfg.table,
    rows: rows.length,
    offsets: rangesToPayload(offsets),
    writtenAt: now.toISOString(),
  };
  const append = appendFiles({
    io: catalog.io,
    files,
    summary: { [Property.batchId]: batchId, [offsetsSummaryKey(topic)]: serializeRanges(offsets) },
  });
  const commit = await commitOnBranch(
    catalog,
    branch,
    new Map([[names.staging, (base, attempt, bases) => append(base ?? staging, attempt, bases)]]),
    {
      message: `floe: write batch ${batchId} (${rows.length} rows) to ${names.staging}`,
      properties: {
        [Property.batchId]: batchId,
        [Property.stage]: Stage.written,
        [Property.topic]: topic,
        [Property.table]: topicCfg.table,
        [Property.result]: stringifyJson({ ...result, hash: undefined }),
      },
    },
  );
  if (union?.incompatible.length)
    ctx.log.warn(
      { batchId, incompatible: union.incompatible },
      'values that do not fit existing columns go to _untrusted',
    );
  return { ...result, hash: commit.hash! };
}

/**
 * Writes rows; a row the Parquet writer refuses (which conversion should already have prevented) is replaced by
 * `fallback` — its payload-free version — and the write repeated, so the refusal costs that row, not the batch.
 */
export async function writeIsolated(
  io: FileIO,
  metadata: Parameters<typeof writeRows>[1],
  rows: Record<string, unknown>[],
  fallback: (row: Record<string, unknown>, error: InvalidRowError) => Record<string, unknown>,
): Promise<Awaited<ReturnType<typeof writeRows>>> {
  const replaced = new Set<Record<string, unknown>>();
  for (;;) {
    try {
      return await writeRows(io, metadata, rows);
    } catch (err) {
      const row = err instanceof InvalidRowError ? (err.rowObject as Record<string, unknown> | undefined) : undefined;
      const index = row ? rows.indexOf(row) : -1;
      // Only a row not yet replaced: a fallback row that still fails means the fault is not in the data.
      if (!row || index < 0 || replaced.has(row)) throw err;
      const substitute = fallback(row, err as InvalidRowError);
      replaced.add(substitute);
      rows[index] = substitute;
    }
  }
}
