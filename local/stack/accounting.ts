/**
 * The final accounting of a run: every record the simulator got acknowledged by Kafka must be on `main` exactly once,
 * in `production.<t>` or `production.<t>_untrusted`. Rows of earlier runs (other coordinates) are not counted. A record
 * not on main is looked for where it can still be: parked in dead-letter storage (`floe deadletter replay` brings it
 * back), and, when the caller says where to look, on an open WAP branch, at or after its consumer group's committed
 * offset in Kafka, or tagged in the Broker's topic after its dispatcher's committed offset (all resume on the next
 * start). Only a record in none of these places is missing.
 */
import { loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { deadLetterRecords, listDeadLetters } from '../../shared/maintenance/deadletter-replay.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { tableNames, topicConfig, type PipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { withCurrentColumnNames } from '../../shared/wap/table-layout.ts';
import type { SimulationReport } from '../simulator/index.ts';

export interface TopicAccount {
  topic: string;
  sent: number;
  sentBad: number;
  trusted: number;
  untrusted: number;
  /** Records of this run found more than once on main. */
  duplicates: number;
  /** Records of this run not on main but in a stored dead letter. */
  deadLettered: number;
  /** Records of this run not on main but on an open WAP branch (asked for with `whereabouts`). */
  onBranches: number;
  /**
   * Records of this run not on main and not yet committed by their consumer group, or tagged and waiting in the
   * Broker's topic past its dispatcher's committed offsets (asked for with `whereabouts`).
   */
  inKafka: number;
  /** Records of this run in none of the places above. */
  missing: number;
}

export interface Accounting {
  /** Every record is on main exactly once. */
  ok: boolean;
  /** No record is missing or doubled: those not on main are kept somewhere they come back from. */
  accounted: boolean;
  topics: TopicAccount[];
}

/** Where records not yet on main may be, besides dead-letter storage. */
export interface Whereabouts {
  /** `<topic>/<partition>/<offset>` of the records the open WAP branches hold. */
  onBranches: Set<string>;
  /** Per topic and partition, the consumer group's committed offset (the next record it will read). */
  committed: Map<string, Map<number, bigint>>;
  /** `<topic>/<partition>/<offset>` of the tagged records in the Broker's topic its dispatcher has not committed. */
  inBroker?: Set<string>;
}

export async function accountRun(
  catalog: Catalog,
  config: PipelineConfig,
  report: SimulationReport,
  whereabouts?: Whereabouts,
): Promise<Accounting> {
  const parked = new Set<string>();
  const { letters } = await listDeadLetters(catalog.io, catalog.warehouse);
  for (const letter of letters) for (const record of deadLetterRecords(letter)) parked.add(record);
  const topics: TopicAccount[] = [];
  for (const topicReport of Object.values(report.topics)) {
    const topic = topicConfig(config, topicReport.topic);
    const account: TopicAccount = {
      topic: topicReport.topic,
      sent: topicReport.sent,
      sentBad: topicReport.bad.total,
      trusted: 0,
      untrusted: 0,
      duplicates: 0,
      deadLettered: 0,
      onBranches: 0,
      inKafka: 0,
      missing: 0,
    };
    const expected = new Map<string, number>();
    for (const { partition, ranges } of topicReport.partitions) {
      for (const [first, last] of ranges)
        for (let offset = first; offset <= last; offset++) expected.set(`${partition}:${offset}`, 0);
    }
    if (topic) {
      const names = tableNames(config, topic);
      const { tables } = await loadTables(catalog, 'main', [names.production, names.untrusted]);
      for (const [name, field] of [
        [names.production, 'trusted'],
        [names.untrusted, 'untrusted'],
      ] as const) {
        const table = tables.get(name);
        if (!table) continue;
        // Read under the current column names: a table an earlier floe wrote has the Kafka partition as `_partition`.
        const rows = await scanRows(withCurrentColumnNames(table.metadata), {
          io: catalog.io,
          columns: [Column.topic, Column.partition, Column.offset],
        });
        for (const row of rows) {
          if (row[Column.topic] !== topicReport.topic) continue;
          const key = `${row[Column.partition]}:${row[Column.offset]}`;
          const seen = expected.get(key);
          if (seen === undefined) continue;
          expected.set(key, seen + 1);
          if (seen === 0) account[field]++;
        }
      }
    }
    const committed = whereabouts?.committed.get(topicReport.topic);
    for (const [key, count] of expected) {
      if (count > 1) account.duplicates += count - 1;
      if (count > 0) continue;
      const [partition, offset] = key.split(':');
      const coordinate = `${topicReport.topic}/${partition}/${offset}`;
      const next = committed?.get(Number(partition));
      if (parked.has(coordinate)) account.deadLettered++;
      else if (whereabouts?.onBranches.has(coordinate)) account.onBranches++;
      else if (whereabouts && (next === undefined || BigInt(offset) >= next)) account.inKafka++;
      else if (whereabouts?.inBroker?.has(coordinate)) account.inKafka++;
      else account.missing++;
    }
    topics.push(account);
  }
  const accounted = topics.every((t) => t.missing === 0 && t.duplicates === 0);
  return { ok: accounted && topics.every((t) => t.deadLettered + t.onBranches + t.inKafka === 0), accounted, topics };
}
