/**
 * The final accounting of a run: every record the simulator got acknowledged by Kafka must be on `main` exactly once,
 * in `production.<t>` or `production.<t>_untrusted`. Rows of earlier runs (other coordinates) are not counted.
 */
import { loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { tableNames, topicConfig, type PipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import type { SimulationReport } from '../simulator/index.ts';

export interface TopicAccount {
  topic: string;
  sent: number;
  sentBad: number;
  trusted: number;
  untrusted: number;
  /** Records of this run found more than once on main. */
  duplicates: number;
  /** Records of this run not on main. */
  missing: number;
}

export interface Accounting {
  ok: boolean;
  topics: TopicAccount[];
}

export async function accountRun(catalog: Catalog, config: PipelineConfig, report: SimulationReport): Promise<Accounting> {
  const topics: TopicAccount[] = [];
  for (const topicReport of Object.values(report.topics)) {
    const topic = topicConfig(config, topicReport.topic);
    const account: TopicAccount = { topic: topicReport.topic, sent: topicReport.sent, sentBad: topicReport.bad.total, trusted: 0, untrusted: 0, duplicates: 0, missing: 0 };
    const expected = new Map<string, number>();
    for (const { partition, ranges } of topicReport.partitions) {
      for (const [first, last] of ranges) for (let offset = first; offset <= last; offset++) expected.set(`${partition}:${offset}`, 0);
    }
    if (topic) {
      const names = tableNames(config, topic);
      const { tables } = await loadTables(catalog, 'main', [names.production, names.untrusted]);
      for (const [name, field] of [[names.production, 'trusted'], [names.untrusted, 'untrusted']] as const) {
        const table = tables.get(name);
        if (!table) continue;
        const rows = await scanRows(table.metadata, { io: catalog.io, columns: [Column.topic, Column.partition, Column.offset] });
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
    for (const count of expected.values()) {
      if (count === 0) account.missing++;
      else if (count > 1) account.duplicates += count - 1;
    }
    topics.push(account);
  }
  return { ok: topics.every((t) => t.missing === 0 && t.duplicates === 0), topics };
}
