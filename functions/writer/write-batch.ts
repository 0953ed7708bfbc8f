/**
 * The writer's step of Write-Audit-Publish: one batch of tagged records of one topic becomes a Nessie branch
 * `wap/<table>/<batch>` from `main` holding `staging.<table>` with the batch as one append, in one Nessie commit.
 * The staging schema starts from the production table's (so a value that does not fit an existing column is caught
 * per row) and grows with new fields.
 */
import type { BatchWritten, TaggedRecord } from '../../shared/events/contract.ts';
import { commitOnBranch, loadTables, newTableLocation } from '../../shared/catalog/table-catalog.ts';
import { assignFreshIds, unionByName } from '../../shared/iceberg/evolution.ts';
import { currentSchema, newTableMetadata } from '../../shared/iceberg/metadata.ts';
import type { Schema } from '../../shared/iceberg/types.ts';
import { appendFiles } from '../../shared/iceberg/snapshot.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { tableNames, topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { branchName, newBatchId, Property, Stage } from '../../shared/wap/batch-branches.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { offsetsSummaryKey, rangesOf, rangesToPayload, serializeRanges } from '../../shared/wap/kafka-offsets.ts';
import { batchStruct, stagingRow } from '../../shared/wap/staging-rows.ts';
import { specFromConfig } from '../../shared/wap/table-layout.ts';
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
  const production = tables.get(names.production)?.metadata;
  const struct = batchStruct(records, topicCfg);
  // Start from production's schema so existing columns keep their types; the staging table itself is new per batch.
  const union = production ? unionByName(currentSchema(production), struct, production.lastColumnId) : undefined;
  const schema: Schema = union ? { ...union.schema, schemaId: 0 } : { ...assignFreshIds(struct, { value: 0 }), schemaId: 0 };
  const staging = newTableMetadata({
    location: newTableLocation(catalog.warehouse, names.staging), schema, spec: specFromConfig(topicCfg.partitionBy, schema),
  });
  const rows = records.map((r) => stagingRow(r, schema, batchId));
  const offsets = rangesOf(records.map((r) => ({ partition: r.partition, offset: BigInt(r.offset) })));

  await catalog.client.createReference(branch, 'BRANCH', { name: 'main', hash: main.hash });
  const files = await writeRows(catalog.io, staging, rows);
  const result: BatchWritten = {
    batchId, branch, hash: '', topic, table: topicCfg.table, rows: rows.length,
    offsets: rangesToPayload(offsets), writtenAt: now.toISOString(),
  };
  const append = appendFiles({
    io: catalog.io, files,
    summary: { [Property.batchId]: batchId, [offsetsSummaryKey(topic)]: serializeRanges(offsets) },
  });
  const commit = await commitOnBranch(catalog, branch, new Map([[names.staging, (base, attempt, bases) => append(base ?? staging, attempt, bases)]]), {
    message: `floe: write batch ${batchId} (${rows.length} rows) to ${names.staging}`,
    properties: {
      [Property.batchId]: batchId, [Property.stage]: Stage.written, [Property.topic]: topic, [Property.table]: topicCfg.table,
      [Property.result]: stringifyJson({ ...result, hash: undefined }),
    },
  });
  if (union?.incompatible.length) ctx.log.warn({ batchId, incompatible: union.incompatible }, 'values that do not fit existing columns go to _untrusted');
  return { ...result, hash: commit.hash! };
}
