/**
 * The auditor's step: read the batch from `staging.<t>` on its branch, judge every row by the topic's rules, and
 * commit trusted rows to `production.<t>` and untrusted rows (with their reasons) to `production.<t>_untrusted` on the
 * branch in ONE Nessie commit. A batch failing the gate sends all its rows to `_untrusted` with the batch reason.
 * Redelivered events find the audit already on the branch and get the recorded result.
 */
import type { BatchAudited, BatchWritten } from '../../shared/events/contract.ts';
import { commitOnBranch, loadTable, loadTables, newTableLocation } from '../../shared/catalog/table-catalog.ts';
import type { TableUpdate } from '../../shared/iceberg/commit.ts';
import { currentSchema, defaultSpec, snapshotForRef } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { appendFiles } from '../../shared/iceberg/snapshot.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import type { DataFile, StructType, TableMetadata } from '../../shared/iceberg/types.ts';
import { rowProblem } from '../../shared/iceberg/parquet-writer.ts';
import { auditRows, batchVerdict, type AuditResult, type RowVerdict } from '../../shared/quality/rules.ts';
import { tableNames, topicConfig, type TopicConfig } from '../../shared/runtime/pipeline-config.ts';
import { bareObject } from '../../shared/util/bare-object.ts';
import { parseJson, stringifyJson } from '../../shared/util/lossless-json.ts';
import { branchHead, property, Property, Stage } from '../../shared/wap/batch-branches.ts';
import { type WapContext } from '../../shared/wap/wap-context.ts';
import {
  CARRIED_SUMMARY_PREFIXES,
  logClosedHoles,
  mergeRanges,
  rangesFromPayload,
} from '../../shared/wap/kafka-offsets.ts';
import { offsetsSummary, publishedOffsets } from '../../shared/wap/published-offsets.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { BatchGoneError } from '../../shared/wap/batch-branches.ts';
import {
  fitUntrustedRow,
  productionStruct,
  tableFor,
  untrustedStruct,
  withCurrentColumnNames,
} from '../../shared/wap/table-layout.ts';
import { publishedUniqueKeys, withUniqueKeyBloomFilters } from './published-keys.ts';

/** Staging columns a trusted row does not keep: its conversion errors, bytes and headers are for untrusted rows. */
const STAGING_ONLY = new Set<string>([Column.errors, Column.raw, Column.headers]);

/** A staging row as a production row (a new bare object: rows are never shared between tables). */
function trustedRow(row: Record<string, unknown>): Record<string, unknown> {
  const out = bareObject();
  for (const name of Object.keys(row)) if (!STAGING_ONLY.has(name)) out[name] = row[name];
  return out;
}

function untrustedRow(row: Record<string, unknown>, reasons: string[]): Record<string, unknown> {
  const out = Object.assign(bareObject(), row);
  out[Column.reasons] = reasons;
  return out;
}

/**
 * Moves trusted rows that the production table on the branch cannot take to the untrusted ones, with the reason.
 * Only checked when the table's columns do not all match the staging columns, so the usual audit costs no extra pass.
 */
function demoteUnwritable(
  result: AuditResult,
  production: TableMetadata | undefined,
  struct: StructType,
  topic: TopicConfig,
  asWritten: (row: Record<string, unknown>) => Record<string, unknown>,
): void {
  if (!production) return;
  const { metadata, incompatible } = tableFor(production, struct, topic, () => production.location);
  if (!incompatible.length) return;
  const problem = rowProblem(currentSchema(metadata));
  const keep: Record<string, unknown>[] = [];
  for (const row of result.trusted) {
    const why = problem(asWritten(row));
    if (why === undefined) keep.push(row);
    else {
      result.untrusted.push({ row, reasons: [`type: ${why} (the production table's column differs)`] });
      result.reasonCounts.type = (result.reasonCounts.type ?? 0) + 1;
    }
  }
  result.trusted = keep;
}

export async function auditBatch(ctx: WapContext, batch: BatchWritten): Promise<BatchAudited> {
  const { catalog, config } = ctx;
  const topic = topicConfig(config, batch.topic);
  if (!topic) throw new Error(`topic '${batch.topic}' is not configured`);
  const names = tableNames(config, topic);
  const head = await branchHead(catalog.client, batch.branch);
  if (!head)
    throw new BatchGoneError(
      `branch ${batch.branch} of batch ${batch.batchId} no longer exists (published or cleaned up)`,
    );
  if (
    property(head.meta, Property.stage) === Stage.audited &&
    property(head.meta, Property.batchId) === batch.batchId
  ) {
    return { ...parseJson<BatchAudited>(property(head.meta, Property.result)!), hash: head.hash };
  }

  const staging = await loadTable(catalog, `${batch.branch}@${batch.hash}`, names.staging);
  if (!staging)
    throw new BatchGoneError(`batch ${batch.batchId}: ${names.staging} is missing on ${batch.branch}@${batch.hash}`);
  // A batch an earlier floe wrote (in flight across an upgrade) is read under the current column names.
  const stagingMetadata = withCurrentColumnNames(staging.metadata);
  const rows = await scanRows(stagingMetadata, { io: catalog.io });
  const now = ctx.now?.() ?? new Date();
  const { tables: onMain } = await loadTables(catalog, 'main', [names.production]);
  const published = await publishedUniqueKeys(catalog.io, onMain.get(names.production)?.metadata, topic, rows);
  ctx.log.debug({ batchId: batch.batchId, ...published.stats }, 'unique keys checked against main');
  const result = auditRows({
    rows,
    rules: topic.rules,
    eventTime: topic.eventTime,
    nowMicros: BigInt(now.getTime()) * 1000n,
    published: published.keys,
  });
  // Rows the tables on the branch could not take (nothing should produce them: the staging schema derives from the
  // same production schema) are untrusted with the reason rather than failing the whole audit over and over.
  const stagingSchema = currentSchema(stagingMetadata);
  const onBranch = await loadTables(catalog, `${batch.branch}@${batch.hash}`, [names.production, names.untrusted]);
  demoteUnwritable(
    result,
    onBranch.tables.get(names.production)?.metadata,
    productionStruct(stagingSchema),
    topic,
    trustedRow,
  );
  const verdict = batchVerdict(
    rows.length,
    result.untrusted.length,
    config.audit.maxUntrustedRatio,
    config.audit.minRowsForGate,
  );
  const trusted = verdict.verdict === 'passed' ? result.trusted : [];
  const untrusted: RowVerdict[] =
    verdict.verdict === 'passed'
      ? result.untrusted
      : [
          ...result.untrusted.map((u) => ({ ...u, reasons: [...u.reasons, verdict.reason!] })),
          ...result.trusted.map((row) => ({ row, reasons: [verdict.reason!] })),
        ];
  const batchOffsets = rangesFromPayload(batch.offsets);

  const tableUpdate = (
    name: string,
    struct: ReturnType<typeof productionStruct>,
    rowsFor: () => Record<string, unknown>[],
    properties: (metadata: TableMetadata) => TableMetadata = (metadata) => metadata,
  ): TableUpdate => {
    // Data files are written once per (schema, spec) they were laid out for, and reused if a retry finds the same.
    let laidOut: { layout: string; files: DataFile[] } | undefined;
    return async (base, attempt, bases) => {
      const parent = base && snapshotForRef(base, 'main');
      // A concurrent auditor of the same batch already committed it: nothing left to do.
      if (parent?.summary[Property.batchId] === batch.batchId) return base;
      const tableRows = rowsFor();
      // A table without rows of this batch is still renamed with it: the topic's tables change names together.
      if (!tableRows.length) return base && withCurrentColumnNames(base);
      const metadata = properties(
        tableFor(base, struct, topic, () => newTableLocation(catalog.warehouse, name)).metadata,
      );
      const layout = stringifyJson([currentSchema(metadata), defaultSpec(metadata)]);
      if (laidOut?.layout !== layout) laidOut = { layout, files: await writeRows(catalog.io, metadata, tableRows) };
      // Every table of the topic records the union of what the topic's tables hold, so a replay is recognised.
      const published = publishedOffsets([...bases.values()], batch.topic);
      logClosedHoles(ctx.log, batch.topic, mergeRanges(published.ranges, batchOffsets));
      return appendFiles({
        io: catalog.io,
        files: laidOut.files,
        carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES,
        summary: { [Property.batchId]: batch.batchId, ...offsetsSummary(batch.topic, published, batchOffsets) },
      })(metadata, attempt, bases);
    };
  };

  const trustedRows = () => trusted.map(trustedRow);
  // The untrusted table on the branch may type a column differently from this batch's staging table (the writer
  // derives staging from production only): such values are nulled in the untrusted row, with the reason.
  const untrustedTable = onBranch.tables.get(names.untrusted)?.metadata;
  const conflicting =
    untrustedTable && tableFor(untrustedTable, untrustedStruct(stagingSchema), topic, () => untrustedTable.location);
  const fit = conflicting?.incompatible.length ? rowProblem(currentSchema(conflicting.metadata)) : undefined;
  const untrustedTableRows = untrusted.map(({ row, reasons }) => {
    const out = untrustedRow(row, reasons);
    if (!fit) return out;
    const fitted = fitUntrustedRow(out, fit);
    if ((fitted[Column.reasons] as string[]).length > reasons.length && !reasons.some((r) => r.startsWith('type:'))) {
      result.reasonCounts.type = (result.reasonCounts.type ?? 0) + 1;
    }
    return fitted;
  });
  const untrustedRows = () => untrustedTableRows;
  const audited: BatchAudited = {
    batchId: batch.batchId,
    branch: batch.branch,
    hash: '',
    topic: batch.topic,
    table: batch.table,
    verdict: verdict.verdict,
    ...(verdict.reason ? { reason: verdict.reason } : {}),
    trusted: trusted.length,
    untrusted: untrusted.length,
    reasons: result.reasonCounts,
    offsets: batch.offsets,
    auditedAt: now.toISOString(),
  };
  const commit = await commitOnBranch(
    catalog,
    batch.branch,
    new Map([
      [
        names.production,
        // Bloom filters on the unique key columns keep the next audits' check against main from reading every file.
        tableUpdate(names.production, productionStruct(stagingSchema), trustedRows, (metadata) =>
          withUniqueKeyBloomFilters(metadata, topic.rules.unique),
        ),
      ],
      [names.untrusted, tableUpdate(names.untrusted, untrustedStruct(stagingSchema), untrustedRows)],
    ]),
    {
      message: `floe: audit batch ${batch.batchId}: ${verdict.verdict}, ${trusted.length} trusted, ${untrusted.length} untrusted`,
      properties: {
        [Property.batchId]: batch.batchId,
        [Property.stage]: Stage.audited,
        [Property.topic]: batch.topic,
        [Property.table]: batch.table,
        [Property.result]: stringifyJson({ ...audited, hash: undefined }),
      },
    },
  );
  if (commit.hash) return { ...audited, hash: commit.hash };
  // Nothing committed: another auditor of this batch won the race; answer with what it recorded.
  const after = await branchHead(catalog.client, batch.branch);
  if (!after || property(after.meta, Property.stage) !== Stage.audited)
    throw new Error(`batch ${batch.batchId}: audit commit vanished`);
  return { ...parseJson<BatchAudited>(property(after.meta, Property.result)!), hash: after.hash };
}
