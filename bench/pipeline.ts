/**
 * End-to-end benchmark (issues 4 and 6): records produced to the embedded Kafka flow through the whole local stack —
 * KafkaSource stand-in → Broker → tagger → writer → auditor → publisher, every function its own process behind the
 * same HTTP host as in the cluster — until every one is on `main`. Reported: sustained events/s, p50/p99 latency from
 * the tagger to visible on `main`, rows per data file, peak RSS per function, and, measured in the same run, the raw
 * HTTP CloudEvent hop rate (node:http + CloudEvent parsing, 64 in flight): the physical limit of a design where every
 * record crosses HTTP hops. Also the CPU time of every process over the whole run (start-up included, from /proc) per
 * record, and what the Broker received and delivered (more than once per record when something was redelivered).
 *
 *   npm run bench -- pipeline          (PIPELINE_BENCH_RECORDS=3000 for a quick run)
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { loadTables } from '../shared/catalog/table-catalog.ts';
import { currentSnapshot } from '../shared/iceberg/metadata.ts';
import { scanRows } from '../shared/iceberg/scan.ts';
import { tableNames, topicConfig } from '../shared/runtime/pipeline-config.ts';
import { Column } from '../shared/wap/staging-rows.ts';
import { property, Property } from '../shared/wap/batch-branches.ts';
import { DEFAULT_TOPICS, generateEvents } from '../local/simulator/index.ts';
import { startStack } from '../local/stack/index.ts';
import { cloudEventRequestRate, peakRssMb, percentile, silentLogger, startBareCloudEventServer } from './_measure.ts';
import { benchArgs } from './_args.ts';

benchArgs(
  `Usage: npm run bench -- pipeline

End to end through the local stack, every function its own process: events/s, latency from the tagger to main, rows
per data file, peak RSS and CPU per process, against the raw HTTP CloudEvent hop. Environment: PIPELINE_BENCH_RECORDS.

Options:
  -h, --help  this text`,
  {},
);

const RECORDS = Number(process.env.PIPELINE_BENCH_RECORDS ?? 10_000);

/** CPU seconds (user + system) a live process has used, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const home = await mkdtemp(path.join(tmpdir(), 'floe-bench-pipeline-'));
const stack = await startStack({
  home,
  logger: silentLogger,
  configFile: 'knative/config/pipeline.yaml',
  dashboard: false,
});
try {
  const hop = await startBareCloudEventServer();
  const hopRate = await cloudEventRequestRate(hop.url, 3000);
  hop.close();
  const records = generateEvents(1, RECORDS, { badFraction: 0.05 });
  const kafka = new kafkajs.Kafka({ brokers: stack.kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  const started = performance.now();
  for (let i = 0; i < records.length; i += 500) {
    const byTopic = new Map<string, { key: string; value: Buffer; headers: Record<string, string> }[]>();
    for (const r of records.slice(i, i + 500)) {
      const topic = DEFAULT_TOPICS[r.role];
      const list = byTopic.get(topic) ?? [];
      list.push({ key: r.key, value: r.value, headers: r.headers });
      byTopic.set(topic, list);
    }
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }
  const producedSeconds = (performance.now() - started) / 1000;
  await producer.disconnect();

  // Wait until every record is on main.
  const config = stack.env.pipeline;
  const names = Object.values(DEFAULT_TOPICS).map((t) => tableNames(config, topicConfig(config, t)!));
  const tableList = names.flatMap((n) => [n.production, n.untrusted]);
  let onMain = 0;
  while (onMain < RECORDS) {
    const { tables } = await loadTables(stack.catalog, 'main', tableList);
    onMain = [...tables.values()].reduce(
      (sum, t) => sum + Number(currentSnapshot(t.metadata)?.summary['total-records'] ?? 0),
      0,
    );
    if (onMain < RECORDS) await new Promise((r) => setTimeout(r, 200));
  }
  const seconds = (performance.now() - started) / 1000;

  // Latency: each row's `_ingested_at` (stamped by the tagger) → the commit that made its batch visible on main.
  const publishedAt = new Map<string, number>();
  for await (const entry of stack.catalog.client.commitLog('main')) {
    const batchId = property(entry.commitMeta, Property.batchId);
    if (batchId && entry.commitMeta.commitTime) publishedAt.set(batchId, Date.parse(entry.commitMeta.commitTime));
  }
  const latencies: number[] = [];
  // From the record's Kafka timestamp: the whole way, wherever the record waited (before or after the tagger).
  const endToEnd: number[] = [];
  let files = 0;
  let rows = 0;
  const { tables } = await loadTables(stack.catalog, 'main', tableList);
  for (const table of tables.values()) {
    const snapshot = currentSnapshot(table.metadata);
    files += Number(snapshot?.summary['total-data-files'] ?? 0);
    rows += Number(snapshot?.summary['total-records'] ?? 0);
    for (const row of await scanRows(table.metadata, {
      io: stack.catalog.io,
      columns: [Column.ingestedAt, Column.kafkaTime, Column.batchId],
    })) {
      const at = publishedAt.get(row[Column.batchId] as string);
      if (at === undefined) continue;
      latencies.push(at - Number((row[Column.ingestedAt] as bigint) / 1000n));
      const produced = row[Column.kafkaTime] as bigint | null;
      if (produced !== null) endToEnd.push(at - Number(produced / 1000n));
    }
  }
  latencies.sort((a, b) => a - b);
  endToEnd.sort((a, b) => a - b);
  const rate = RECORDS / seconds;
  console.log(
    `\n${RECORDS.toLocaleString('en-US')} records (5% bad) over 3 topics, produced in ${producedSeconds.toFixed(1)} s, all on main after ${seconds.toFixed(1)} s\n`,
  );
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| sustained pipeline rate (produce → on main) | ${Math.round(rate).toLocaleString('en-US')} events/s |`);
  console.log(
    `| raw HTTP CloudEvent hop, same run (64 in flight) | ${Math.round(hopRate).toLocaleString('en-US')} requests/s |`,
  );
  console.log(
    `| pipeline / raw hop (each record crosses 3 hops: source→broker→tagger, →writer) | ${(rate / hopRate).toFixed(3)} (limit ≈ 0.333) |`,
  );
  console.log(
    `| latency tagger → visible on main | p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms (${latencies.length} rows) |`,
  );
  console.log(
    `| latency produced (Kafka timestamp) → visible on main | p50 ${percentile(endToEnd, 50)} ms, p99 ${percentile(endToEnd, 99)} ms (${endToEnd.length} rows) |`,
  );
  console.log(`| rows per data file | ${(rows / Math.max(files, 1)).toFixed(0)} (${files} files) |`);
  for (const fn of Object.values(stack.functions)) {
    const cpu = cpuSeconds(fn.pid());
    console.log(
      `| peak RSS ${fn.name}, CPU | ${peakRssMb(fn.pid())?.toFixed(0) ?? '?'} MB, ${cpu?.toFixed(1) ?? '?'} s = ${cpu === undefined ? '?' : Math.round((cpu * 1e6) / RECORDS)} µs per record |`,
    );
  }
  const usage = process.resourceUsage();
  const stackCpu = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  console.log(
    `| peak RSS stack process (Kafka, Nessie, broker, sources), CPU | ${(usage.maxRSS / 1024).toFixed(0)} MB, ${stackCpu.toFixed(1)} s = ${Math.round((stackCpu * 1e6) / RECORDS)} µs per record |`,
  );
  const broker = (await (await fetch(`${stack.brokerUrl}/stats`)).json()) as {
    received: number;
    replies: number;
    triggers: Record<string, { delivered: number }>;
  };
  console.log(
    `| Broker: events received / replies / deliveries to the writer | ${broker.received} / ${broker.replies} / ${broker.triggers.writer?.delivered ?? '?'} |`,
  );
} finally {
  await stack.stop();
  await rm(home, { recursive: true, force: true });
}
