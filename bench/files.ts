/**
 * Data files and manifests on `main` at steady state, under floe's own policies, in simulated time: rows arrive at a
 * steady rate per table as batches whose events carry simulated timestamps, each batch is published as one append
 * through the publisher's commit path (`appendFiles` + `commitOnBranch` on `main`, Kafka offsets in the summary), and
 * on the compactor's schedule (minute 7 of every hour, `knative/pingsources.yaml`) the table is compacted
 * (`compactTable`, default engine, the table's own bin-pack settings) and its manifests rewritten, as the compactor
 * tick does. Tables, columns, partitioning and bloom-filter properties are the production tables' of the pipeline
 * config (`knative/config/pipeline.yaml`), made the way the auditor makes them. The tick's snapshot expiry runs too,
 * keeping only the head (see below).
 *
 * Printed per table, just before and just after the last compaction: live data files on main, their mean size and
 * rows (all, closed partitions, the open one), manifests in the current snapshot (also the most seen after any
 * append), the most files the open partition held after a compaction, and the write amplification (bytes and rows
 * compaction wrote ÷ bytes and rows the appends wrote).
 *
 *   npm run bench -- files [--rate 1000] [--scale 10] [--batch-rows 5000] [--days 1.1] [--tables parking-sensors]
 *   npm run bench -- files --help
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './_args.ts';
import { createNessieClient } from '../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTable, newTableLocation, type Catalog } from '../shared/catalog/table-catalog.ts';
import type { TaggedRecord } from '../shared/events/contract.ts';
import { currentSchema, snapshotForRef } from '../shared/iceberg/metadata.ts';
import { REWRITE_ENGINES, type RewriteEngine } from '../shared/iceberg/rewrite-data.ts';
import { appendFiles, readManifestEntries, readManifestFiles } from '../shared/iceberg/snapshot.ts';
import { EntryStatus, type DataFile, type TableMetadata } from '../shared/iceberg/types.ts';
import { writeRows } from '../shared/iceberg/writer.ts';
import { compactTable } from '../shared/maintenance/compaction.ts';
import { compactionEngine } from '../shared/maintenance/maintenance-settings.ts';
import { rewriteTableManifests } from '../shared/maintenance/manifest-rewrite.ts';
import { expireTable } from '../shared/maintenance/snapshot-expiry.ts';
import { loadPipelineConfig, tableNames, type TopicConfig } from '../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../shared/storage/index.ts';
import { bareObject } from '../shared/util/bare-object.ts';
import { Property } from '../shared/wap/batch-branches.ts';
import {
  CARRIED_SUMMARY_PREFIXES,
  mergeRanges,
  offsetsSummaryKey,
  rangesOf,
  serializeRanges,
  type OffsetRanges,
} from '../shared/wap/kafka-offsets.ts';
import { Column, inferBatch, stagingRow } from '../shared/wap/staging-rows.ts';
import { productionStruct, tableFor } from '../shared/wap/table-layout.ts';
import { withUniqueKeyBloomFilters } from '../shared/wap/table-properties.ts';
import { startNessieServer } from '../local/nessie/index.ts';
import { silentLogger } from './_measure.ts';

const HELP = `Usage: npm run bench -- files [options]

Steady-state ingestion into floe's production tables in simulated time: batches appended to main as the publisher
does, compaction and manifest rewrite at minute 7 of every simulated hour as the compactor does. Prints data files
and manifests on main just before and after the last compaction, and compaction's write amplification.

Options (environment variable in brackets):
  --rate N          rows per minute per table (FILES_BENCH_RATE, default 1000: the local stack's rate)
  --batch-rows N    rows per published batch (FILES_BENCH_BATCH_ROWS, default 5000: one append every 5 minutes
                    at 1000 rows/min). The writer closes a batch at batch.maxRows (10000) or after batch.linger
                    (2 s in knative/config/pipeline.yaml), so at 1000 rows/min a real batch holds ~33 rows: 30
                    appends a minute. Fewer, larger batches keep the run short; they change the files and
                    manifests seen between compactions, not what compaction leaves
  --scale K         each batch carries 1/K of its rows: the same simulated clock and batch cadence at rate/K rows
                    per minute (FILES_BENCH_SCALE, default 10, so the default run stays within a few minutes on a
                    loaded 2-core machine; --scale 1 is the full rate)
  --days D          simulated days, fractions allowed (FILES_BENCH_DAYS, default 1.1: the first day closes at
                    simulated midnight and two more hourly compactions follow)
  --tables LIST     topics of knative/config/pipeline.yaml (FILES_BENCH_TABLES,
                    default parking-entry,parking-sensors, both partitioned day(timestamp))
  --partition-by T  override every table's partitioning, e.g. 'hour(timestamp)' (FILES_BENCH_PARTITION_BY)
  --engine E        compaction engine, duckdb or js (default FLOE_COMPACTION_ENGINE, else duckdb)
  -h, --help        this text`;

const MIB = 1024 * 1024;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The compactor's PingSource fires at minute 7 of every hour. */
const TICK_OFFSET = 7 * MINUTE;
/** Monday 2026-11-02T00:00Z: simulated days are calendar days, so day partitions close at simulated midnight. */
const START = Date.UTC(2026, 10, 2);
/** Batch windows are not aligned with the hour, so some batches straddle a partition boundary as real ones do. */
const PHASE = 17_000;
const KAFKA_PARTITIONS = 6;
const GOAL_BYTES = 8 * MIB;
const GOAL_ROWS = 100_000;

function options() {
  const values = benchArgs(HELP, {
    rate: { type: 'string' },
    'batch-rows': { type: 'string' },
    days: { type: 'string' },
    scale: { type: 'string' },
    tables: { type: 'string' },
    'partition-by': { type: 'string' },
    engine: { type: 'string' },
  });
  const number = (name: string, text: string | undefined, fallback: number) => {
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got '${text}'`);
    return value;
  };
  const env = process.env;
  const engine = (values.engine ?? compactionEngine()) as RewriteEngine;
  if (!REWRITE_ENGINES.includes(engine)) throw new Error(`--engine must be ${REWRITE_ENGINES.join(' or ')}`);
  return {
    rate: number('rate', values.rate ?? env.FILES_BENCH_RATE, 1000),
    batchRows: Math.round(number('batch-rows', values['batch-rows'] ?? env.FILES_BENCH_BATCH_ROWS, 5000)),
    days: number('days', values.days ?? env.FILES_BENCH_DAYS, 1.1),
    scale: number('scale', values.scale ?? env.FILES_BENCH_SCALE, 10),
    topics: (values.tables ?? env.FILES_BENCH_TABLES ?? 'parking-entry,parking-sensors')
      .split(',')
      .map((t) => t.trim()),
    partitionBy: values['partition-by'] ?? env.FILES_BENCH_PARTITION_BY,
    engine,
  };
}

type Options = ReturnType<typeof options>;

/** A small linear congruential generator: the same rows for the same seed in every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/**
 * Payloads shaped like the local simulator's after the tagger: parking events carry the camera frame as a claim check
 * (a PNG above `claimCheck.inlineMaxBytes`, so uri and digest only), sensors a reading.
 */
function payloadMaker(topic: string, seed: number): (time: number, sequence: number) => Record<string, unknown> {
  const next = random(seed);
  const hex = (n: number) => {
    let out = '';
    for (let i = 0; i < n; i++) out += '0123456789abcdef'[(next() * 16) | 0];
    return out;
  };
  if (topic.includes('sensor')) {
    const sensors = ['LOT-1-OCC', 'LOT-1-OCC-A', 'LOT-1-OCC-B', 'LOT-1-OCC-C', 'LOT-1-TEMP-N', 'LOT-1-TEMP-S'];
    return (time, sequence) => {
      const sensor = sensors[sequence % sensors.length];
      const temperature = sensor.includes('TEMP');
      return {
        sensor_id: sensor,
        timestamp: new Date(time).toISOString(),
        lot_id: 'LOT-1',
        kind: temperature ? 'temperature' : 'occupancy',
        value: temperature ? Math.round((8 + next() * 12) * 10) / 10 : (next() * 200) | 0,
        unit: temperature ? 'celsius' : 'slots',
      };
    };
  }
  const inbound = !topic.includes('exit');
  return (time) => {
    const sha256 = hex(64);
    const car = `B-${String.fromCharCode(65 + ((next() * 26) | 0), 65 + ((next() * 26) | 0))} ${(next() * 9000 + 1000) | 0}`;
    return {
      event_id: `${hex(8)}-${hex(4)}-5${hex(3)}-${'89ab'[(next() * 4) | 0]}${hex(3)}-${hex(12)}`,
      timestamp: new Date(time).toISOString(),
      lot_id: 'LOT-1',
      camera_id: inbound ? 'LOT-1-CAM-IN' : 'LOT-1-CAM-OUT',
      direction: inbound ? 'in' : 'out',
      car_id: car,
      slot: `${'ABCD'[(next() * 4) | 0]}-${String(((next() * 50) | 0) + 1).padStart(3, '0')}`,
      latitude: 52.52 + next() * 0.0012,
      longitude: 13.404 + next() * 0.002,
      confidence: Math.round((0.8 + next() * 0.2) * 1000) / 1000,
      image: {
        uri: `s3://floe/warehouse/blobs/${topic.replace(/-/g, '_')}/${sha256.slice(0, 2)}/${sha256}`,
        size_bytes: 3000 + ((next() * 3000) | 0),
        content_type: 'image/png',
        sha256,
      },
    };
  };
}

interface FileStats {
  files: number;
  bytes: number;
  rows: number;
  partitions: Set<string>;
}

interface Snapshot {
  files: Map<string, DataFile>;
  all: FileStats;
  closed: FileStats;
  open: FileStats;
  manifests: number;
}

const none = (): FileStats => ({ files: 0, bytes: 0, rows: 0, partitions: new Set() });

/** Live data files on main, split by whether their partition is before the one `now` falls in. */
async function liveStats(catalog: Catalog, table: string, now: number): Promise<Snapshot> {
  const { metadata } = (await loadTable(catalog, 'main', table))!;
  const snapshot = snapshotForRef(metadata, 'main');
  const manifests = await readManifestFiles(catalog.io, snapshot);
  const transform = metadata.partitionSpecs.find((s) => s.specId === metadata.defaultSpecId)!.fields[0]?.transform;
  const unit = transform === 'hour' ? HOUR : DAY;
  const current = Math.floor(now / unit);
  const out: Snapshot = { files: new Map(), all: none(), closed: none(), open: none(), manifests: manifests.length };
  const add = (s: FileStats, f: DataFile) => {
    s.files++;
    s.bytes += f.fileSizeInBytes;
    s.rows += f.recordCount;
    s.partitions.add(String(f.partition[0]));
  };
  for (const manifest of manifests) {
    for (const entry of await readManifestEntries(catalog.io, manifest, metadata)) {
      if (entry.status === EntryStatus.DELETED) continue;
      out.files.set(entry.dataFile.filePath, entry.dataFile);
      add(out.all, entry.dataFile);
      add(Number(entry.dataFile.partition[0]) < current ? out.closed : out.open, entry.dataFile);
    }
  }
  return out;
}

function describe(s: FileStats): string {
  if (!s.files) return '    0 files';
  return (
    `${String(s.files).padStart(5)} files, mean ${(s.bytes / s.files / MIB).toFixed(2).padStart(7)} MiB, ${Math.round(
      s.rows / s.files,
    )
      .toLocaleString('en-US')
      .padStart(9)} rows` +
    (s.partitions.size > 1 ? `; ${(s.files / s.partitions.size).toFixed(1)} files per partition` : '')
  );
}

function meetsGoal(s: FileStats): boolean {
  return s.files > 0 && (s.bytes / s.files >= GOAL_BYTES || s.rows / s.files >= GOAL_ROWS);
}

interface TableRun {
  table: string;
  partitionBy: string;
  before: Snapshot;
  after: Snapshot;
  maxManifests: number;
  /** The most data files the open partition held after a compaction, and when. */
  maxOpen: { files: number; at: number; rows: number };
  ingestedBytes: number;
  ingestedRows: number;
  compactionWritten: number;
  compactionRowsWritten: number;
  compactionRead: number;
  compactions: number;
  jsGroups: number;
  appendCpu: number;
  compactionCpu: number;
  seconds: number;
}

const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};

async function simulate(catalog: Catalog, topicName: string, topic: TopicConfig, names: string, opts: Options) {
  const started = performance.now();
  const end = START + opts.days * DAY;
  const windowMs = (opts.batchRows / opts.rate) * MINUTE;
  const payload = payloadMaker(topicName, topicName.length * 7919);
  const offsets = new Array<bigint>(KAFKA_PARTITIONS).fill(0n);
  let published: OffsetRanges = new Map();
  let sequence = 0;

  const records = (from: number, to: number): TaggedRecord[] => {
    const count = Math.round(((to - from) / MINUTE) * (opts.rate / opts.scale));
    return Array.from({ length: count }, (_, i) => {
      const time = Math.floor(from + ((i + 0.5) * (to - from)) / count);
      const partition = sequence % KAFKA_PARTITIONS;
      const offset = offsets[partition]++;
      const body = payload(time, sequence++);
      return {
        topic: topicName,
        partition,
        offset: String(offset),
        key: String(body.car_id ?? body.sensor_id),
        kafkaTime: new Date(time).toISOString(),
        ingestedAt: new Date(time + 1500).toISOString(),
        source: `/apis/v1/namespaces/floe/kafkasources/${topicName}#${topicName}`,
        sourceId: `partition:${partition}/offset:${offset}`,
        table: topic.table,
        headers: {},
        status: 'ok',
        payload: body,
      };
    });
  };
  const trusted = (row: Record<string, unknown>) => {
    const out = bareObject();
    for (const name of Object.keys(row))
      if (name !== Column.errors && name !== Column.raw && name !== Column.headers) out[name] = row[name];
    return out;
  };

  // The production table as the auditor creates it from the first batch: columns, spec, bloom filters on unique keys.
  const first = records(START - windowMs, START);
  const { struct } = inferBatch(first, topic);
  const created = withUniqueKeyBloomFilters(
    tableFor(undefined, productionStruct(struct), topic, () => newTableLocation(catalog.warehouse, names)).metadata,
    topic.rules.unique,
  );
  await commitOnBranch(catalog, 'main', new Map([[names, async (base) => base ?? created]]), { message: 'create' });

  const run: TableRun = {
    table: names,
    partitionBy: topic.partitionBy.join(', '),
    before: { files: new Map(), all: none(), closed: none(), open: none(), manifests: 0 },
    after: { files: new Map(), all: none(), closed: none(), open: none(), manifests: 0 },
    maxManifests: 0,
    maxOpen: { files: 0, at: START, rows: 0 },
    ingestedBytes: 0,
    ingestedRows: 0,
    compactionWritten: 0,
    compactionRowsWritten: 0,
    compactionRead: 0,
    compactions: 0,
    jsGroups: 0,
    appendCpu: 0,
    compactionCpu: 0,
    seconds: 0,
  };
  let metadata: TableMetadata = created;
  const publish = async (from: number, to: number) => {
    const cpu = process.cpuUsage();
    const batch = records(from, to);
    if (!batch.length) return;
    const batchId = `bench-${sequence}`;
    const schema = currentSchema(metadata);
    const rows = batch.map((r) => trusted(stagingRow(r, schema, batchId, [], BigInt(to) * 1000n)));
    const files = await writeRows(catalog.io, metadata, rows);
    published = mergeRanges(
      published,
      rangesOf(batch.map((r) => ({ partition: r.partition, offset: BigInt(r.offset) }))),
    );
    const commit = await commitOnBranch(
      catalog,
      'main',
      new Map([
        [
          names,
          appendFiles({
            io: catalog.io,
            files,
            carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES,
            summary: { [Property.batchId]: batchId, [offsetsSummaryKey(topicName)]: serializeRanges(published) },
          }),
        ],
      ]),
      { message: `publish ${batchId}` },
    );
    metadata = commit.states.get(names)!.metadata;
    const manifests = (await readManifestFiles(catalog.io, snapshotForRef(metadata, 'main'))).length;
    run.maxManifests = Math.max(run.maxManifests, manifests);
    run.ingestedBytes += files.reduce((s, f) => s + f.fileSizeInBytes, 0);
    run.ingestedRows += rows.length;
    run.appendCpu += cpuSeconds(cpu);
  };

  let nextBatch = START + PHASE - windowMs;
  let lastReport = START;
  for (let tick = START + TICK_OFFSET; tick <= end; tick += HOUR) {
    for (; nextBatch + windowMs <= tick; nextBatch += windowMs)
      await publish(Math.max(START, nextBatch), nextBatch + windowMs);
    const last = tick + HOUR > end;
    const before = await liveStats(catalog, names, tick);
    const cpu = process.cpuUsage();
    // The simulated clock decides which partitions have closed, as the wall clock does for the compactor.
    const result = await compactTable(catalog, names, { log: silentLogger, engine: opts.engine, now: () => tick });
    if (result.outcome === 'committed') {
      run.compactionRead += ((result.details?.groups as { inputBytes: number }[]) ?? []).reduce(
        (s, g) => s + g.inputBytes,
        0,
      );
      run.compactions++;
      run.jsGroups += Number(result.details?.jsGroups ?? 0);
    } else if (result.outcome === 'failed') throw new Error(`compaction failed: ${result.reason}`);
    // Expiry keeps only the head: production keeps 5 days of snapshots, which would only grow the metadata file each
    // append rewrites (and slow the run quadratically); no data file or manifest of the current snapshot changes.
    await expireTable(catalog, names, { log: silentLogger, maxSnapshotAgeMs: 0, minSnapshotsToKeep: 1 });
    await rewriteTableManifests(catalog, names, { log: silentLogger });
    run.compactionCpu += cpuSeconds(cpu);
    metadata = (await loadTable(catalog, 'main', names))!.metadata;
    const after = await liveStats(catalog, names, tick);
    // Files live after the tick and not before are compaction's output (no append ran in between).
    for (const [location, file] of after.files) {
      if (before.files.has(location)) continue;
      run.compactionWritten += file.fileSizeInBytes;
      run.compactionRowsWritten += file.recordCount;
    }
    if (after.open.files > run.maxOpen.files)
      run.maxOpen = { files: after.open.files, at: tick, rows: after.open.rows };
    if (last) Object.assign(run, { before, after });
    if (tick - lastReport >= 6 * HOUR || last) {
      console.log(
        `  ${new Date(tick).toISOString().slice(0, 16)}Z after compaction: ${describe(after.all)}, ${after.manifests} manifest(s); ` +
          `rows rewritten so far ${(run.compactionRowsWritten / run.ingestedRows).toFixed(1)}× those ingested  (${((performance.now() - started) / 1000).toFixed(0)} s)`,
      );
      lastReport = tick;
    }
  }
  run.seconds = (performance.now() - started) / 1000;
  return run;
}

function report(run: TableRun, opts: Options) {
  const line = (label: string, s: Snapshot) => {
    console.log(`  ${label}`);
    console.log(`    all files      ${describe(s.all)}`);
    console.log(`    closed parts   ${describe(s.closed)}`);
    console.log(`    open partition ${describe(s.open)}`);
    console.log(`    manifests in the current snapshot: ${s.manifests}`);
  };
  console.log(`\n${run.table} — partitioned by ${run.partitionBy}`);
  line('just before the last compaction:', run.before);
  line('after the last compaction:', run.after);
  console.log(`  most manifests seen after an append: ${run.maxManifests}`);
  console.log(
    `  most files in the open partition after a compaction: ${run.maxOpen.files} (${new Date(run.maxOpen.at).toISOString().slice(11, 16)}Z, ` +
      `${Math.round(run.maxOpen.rows / Math.max(1, run.maxOpen.files)).toLocaleString('en-US')} rows per file)`,
  );
  console.log(
    `  ingested ${run.ingestedRows.toLocaleString('en-US')} rows, ${(run.ingestedBytes / MIB).toFixed(1)} MiB (${(run.ingestedBytes / run.ingestedRows).toFixed(1)} B/row in batch files); ` +
      `${run.compactions} compactions read ${(run.compactionRead / MIB).toFixed(1)} MiB and wrote ${(run.compactionWritten / MIB).toFixed(1)} MiB`,
  );
  console.log(
    `  write amplification: compaction wrote ${(run.compactionWritten / run.ingestedBytes).toFixed(2)}× the bytes and ${(run.compactionRowsWritten / run.ingestedRows).toFixed(2)}× the rows ingested` +
      (run.jsGroups ? `; ${run.jsGroups} group(s) fell back to the JS engine` : ''),
  );
  console.log(
    `  cpu: appends ${run.appendCpu.toFixed(1)} s, compaction + manifest rewrite ${run.compactionCpu.toFixed(1)} s (${((run.compactionCpu / opts.days / 24) * 1000).toFixed(0)} ms per hourly tick); wall ${run.seconds.toFixed(0)} s`,
  );
  const closed = run.after.closed;
  console.log(
    `  goal (closed partitions' files ≥ 8 MiB or ≥ 100k rows on average): ${closed.files ? (meetsGoal(closed) ? 'met' : 'NOT met') : 'no closed partition yet'}` +
      (meetsGoal(run.after.all) ? '; met over all live files' : '; not met over all live files'),
  );
  if (closed.files) {
    const perRow = closed.bytes / closed.rows;
    const span = run.partitionBy.startsWith('hour') ? 60 : 1440;
    const rowsAt = GOAL_ROWS / span;
    const bytesAt = GOAL_BYTES / perRow / span;
    console.log(
      `  a closed partition holds ${span} min of rows at ${perRow.toFixed(1)} B/row compacted: it reaches 100k rows at ≥ ${Math.ceil(rowsAt).toLocaleString('en-US')} rows/min, ` +
        `8 MiB at ≥ ${Math.ceil(bytesAt).toLocaleString('en-US')} rows/min (this run: ${(opts.rate / opts.scale).toLocaleString('en-US')})`,
    );
  }
}

async function main(): Promise<void> {
  const opts = options();
  const here = path.dirname(fileURLToPath(import.meta.url));
  const config = loadPipelineConfig(path.join(here, '..', 'knative', 'config', 'pipeline.yaml'));
  const tmp = await mkdtemp(path.join(tmpdir(), 'floe-bench-files-'));
  const nessie = await startNessieServer({ port: 0, dataDir: `${tmp}/nessie` });
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${tmp}/warehouse/`,
  };
  console.log(
    `${opts.days} simulated day(s) from ${new Date(START).toISOString().slice(0, 10)}, one batch every ${((opts.batchRows / opts.rate) * 60).toFixed(1)} s ` +
      `(${opts.batchRows.toLocaleString('en-US')} rows at ${opts.rate.toLocaleString('en-US')} rows/min per table)` +
      (opts.scale === 1
        ? ''
        : `, scaled 1/${opts.scale}: ${(opts.batchRows / opts.scale).toLocaleString('en-US')}-row batches, ${(opts.rate / opts.scale).toLocaleString('en-US')} rows/min`) +
      `; compaction (${opts.engine}) + manifest rewrite at minute 7 of every hour`,
  );
  try {
    const runs: TableRun[] = [];
    for (const topicName of opts.topics) {
      const configured = config.topics[topicName];
      if (!configured)
        throw new Error(
          `topic '${topicName}' is not in the pipeline config (${Object.keys(config.topics).join(', ')})`,
        );
      const topic = opts.partitionBy ? { ...configured, partitionBy: [opts.partitionBy] } : configured;
      const { production } = tableNames(config, topic);
      console.log(`\n${production} (${topic.partitionBy.join(', ')}):`);
      runs.push(await simulate(catalog, topicName, topic, production, opts));
    }
    for (const run of runs) report(run, opts);
  } finally {
    await nessie.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
