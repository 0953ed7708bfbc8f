/**
 * Audit benchmark (issue 16): the per-batch cost of the auditor's `unique` check against `main` as the table grows.
 * A 1,000-record parking-entry batch (`unique: [event_id]`, random ids) is audited against a production table on
 * `main` holding 0.1 M, 1 M and 10 M rows — one table per size (a copy of the parking-entry topic each), built once per
 * run in a temp dir from the same data files: rows of the production schema laid out as compaction leaves them, one
 * file of 100k rows per day(timestamp) partition, ten files per append. Batches go to the sizes in turn, so every size
 * is measured under the same load of the shared machine. The measured batches hold new ids (the common case); after
 * them, one batch per size repeats an event id of its oldest file and the last one of its newest, and the run fails unless the
 * audit finds both. The goal is stated on CPU time: wall time on a shared 2-core VM mostly measures the other jobs.
 * The goal: the steady per-batch audit at 10 M rows costs at most 1.5× that at 0.1 M.
 *
 *   npm run bench -- audit        (AUDIT_BENCH_SIZES=100000,1000000 AUDIT_BENCH_BATCHES=4 for a quicker run)
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createNessieClient } from '../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTables, type Catalog } from '../shared/catalog/table-catalog.ts';
import type { BatchWritten, TaggedRecord } from '../shared/events/contract.ts';
import { currentSchema } from '../shared/iceberg/metadata.ts';
import { scanRows } from '../shared/iceberg/scan.ts';
import { appendFiles } from '../shared/iceberg/snapshot.ts';
import type { DataFile } from '../shared/iceberg/types.ts';
import { writeRows } from '../shared/iceberg/writer.ts';
import { loadPipelineConfig } from '../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../shared/storage/index.ts';
import { bareObject } from '../shared/util/bare-object.ts';
import { stringifyJson } from '../shared/util/lossless-json.ts';
import { CARRIED_SUMMARY_PREFIXES } from '../shared/wap/kafka-offsets.ts';
import type { WapContext } from '../shared/wap/wap-context.ts';
import { auditBatch } from '../functions/auditor/audit-step.ts';
import { bloomFilterCache, manifestCache } from '../functions/auditor/published-keys.ts';
import { publishBatch } from '../functions/publisher/publish-batch.ts';
import { writeBatch } from '../functions/writer/write-batch.ts';
import { startNessieServer } from '../local/nessie/index.ts';
import { median, silentLogger } from './_measure.ts';
import { benchArgs } from './_args.ts';

const USAGE = `Usage: npm run bench -- audit

Per-batch audit time (CPU and wall) of a 1,000-record batch with a unique rule against a table on main holding each
size of AUDIT_BENCH_SIZES rows (default 100000,1000000,10000000; one table per size, measured in turn),
AUDIT_BENCH_BATCHES batches per size (default 6; the first, by a fresh auditor with no filter cached, is reported
apart). Prints the table, the largest / smallest CPU ratio and whether the goal (at most 1.5) is met.`;
benchArgs(USAGE, {});

const SIZES = (process.env.AUDIT_BENCH_SIZES ?? '100000,1000000,10000000').split(',').map(Number);
const BATCHES = Number(process.env.AUDIT_BENCH_BATCHES ?? 6);
const BATCH_ROWS = 1000;
const FILE_ROWS = 100_000;
const FILES_PER_APPEND = 10;
const GOAL = 1.5;
const NOW = new Date('2026-11-22T10:00:00Z');
const DAY_MICROS = 86_400_000_000n;

const eventId = () => {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

function record(topic: string, partition: number, offset: number, id: string): TaggedRecord {
  return {
    topic,
    partition,
    offset: String(offset),
    key: `car-${offset % 7}`,
    kafkaTime: NOW.toISOString(),
    ingestedAt: NOW.toISOString(),
    source: '/apis/v1/namespaces/floe/kafkasources/parking#parking-entry',
    sourceId: `partition:${partition}/offset:${offset}`,
    table: topic.replace(/-/g, '_'),
    headers: {},
    status: 'ok',
    payload: {
      event_id: id,
      timestamp: new Date(NOW.getTime() - 60_000).toISOString(),
      car_id: `B-${offset % 5000}`,
      slot: `A-${String(offset % 50).padStart(3, '0')}`,
      latitude: 52.5205,
      longitude: 13.405,
    },
  };
}

const dir = await mkdtemp(path.join(tmpdir(), 'floe-bench-audit-'));
const nessie = await startNessieServer({ port: 0, dataDir: `${dir}/nessie` });
try {
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${dir}/warehouse/`,
  };
  const config = loadPipelineConfig('knative/config/pipeline.yaml');
  const ctx: WapContext = { catalog, config, log: silentLogger, now: () => NOW };
  type Run = { wall: number; cpu: number };
  interface Size {
    rows: number;
    topic: string;
    production: string;
    files: number;
    dataFiles: number;
    oldest?: string;
    newest?: string;
    runs: Run[];
    duplicates?: Run;
    cachedBytes: number;
  }
  const sizes: Size[] = SIZES.map((rows) => {
    const topic = `bench-audit-${rows}`;
    config.topics[topic] = { ...config.topics['parking-entry'], table: topic.replace(/-/g, '_') };
    const production = `${config.namespaces.production}.${topic.replace(/-/g, '_')}`;
    return {
      rows: 0,
      topic,
      production,
      files: Math.max(1, Math.round(rows / FILE_ROWS)),
      dataFiles: 0,
      runs: [],
      cachedBytes: 0,
    };
  });
  const productionOf = async (size: Size) =>
    (await loadTables(catalog, 'main', [size.production])).tables.get(size.production)!.metadata;

  // Kafka partition 0 holds the bulk rows' coordinates, partition 1 the first batch, 2.. the measured batches.
  for (const size of sizes) {
    const first = await writeBatch(
      ctx,
      size.topic,
      Array.from({ length: 10 }, (_, i) => record(size.topic, 1, i, eventId())),
    );
    const seeded = await publishBatch(ctx, await auditBatch(ctx, first));
    if (seeded.kind !== 'published') throw new Error(`seed batch not published: ${seeded.kind}`);
    size.rows = 10;
  }
  const largest = sizes.reduce((a, b) => (b.files > a.files ? b : a));
  const layout = await productionOf(largest);
  for (const size of sizes) {
    if (stringifyJson(currentSchema(await productionOf(size))) !== stringifyJson(currentSchema(layout)))
      throw new Error('the benchmark tables differ in schema: they cannot share data files');
  }
  const template = (await scanRows(layout, { io: catalog.io, limit: 1 }))[0];

  let nextBulkOffset = 0n;
  /** One compacted day: FILE_ROWS rows of the production schema with random event ids. */
  function bulkRows(day: number): Record<string, unknown>[] {
    // 100k rows 0.8 s apart fill 22 h of one UTC day: one partition, one data file
    const today = (BigInt(NOW.getTime()) * 1000n) / DAY_MICROS;
    const dayStart = (today - BigInt(day + 1)) * DAY_MICROS;
    const rows = new Array<Record<string, unknown>>(FILE_ROWS);
    for (let i = 0; i < FILE_ROWS; i++) {
      const row = Object.assign(bareObject(), template);
      row.event_id = eventId();
      row.timestamp = dayStart + BigInt(i) * 800_000n;
      row.car_id = `B-${i % 5000}`;
      row._kafka_partition = 0;
      row._offset = nextBulkOffset++;
      row._source_id = `partition:0/offset:${row._offset}`;
      rows[i] = row;
    }
    return rows;
  }

  // The data files are written once, with the largest table's properties (bloom filters when the auditor asked for
  // them), and appended to every table that holds that many: files are immutable, sharing them changes no answer.
  const started = performance.now();
  const files: DataFile[][] = [];
  const middleIds: string[] = [];
  const lastIds: string[] = [];
  for (let f = 0; f < largest.files; f++) {
    const rows = bulkRows(f);
    middleIds.push(rows[FILE_ROWS >> 1].event_id as string);
    lastIds.push(rows[FILE_ROWS - 1].event_id as string);
    files.push(await writeRows(catalog.io, layout, rows));
    process.stdout.write(
      `\r  building main: ${((f + 1) * FILE_ROWS).toLocaleString('en-US')} rows in ${f + 1} files (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
  process.stdout.write('\n');
  for (const size of sizes) {
    for (let from = 0; from < size.files; from += FILES_PER_APPEND) {
      const chunk = files.slice(from, Math.min(size.files, from + FILES_PER_APPEND)).flat();
      await commitOnBranch(
        catalog,
        'main',
        new Map([
          [
            size.production,
            appendFiles({ io: catalog.io, files: chunk, carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES }),
          ],
        ]),
        { message: `bench: ${chunk.length} compacted files` },
      );
    }
    size.rows += size.files * FILE_ROWS;
    size.dataFiles = files.slice(0, size.files).flat().length;
    size.oldest = middleIds[0];
    size.newest = lastIds[size.files - 1];
  }
  // Flush the build's writes, so the audits' own durable writes do not queue behind them.
  spawnSync('sync');

  let batchPartition = 2;
  async function measureBatch(size: Size, withDuplicates: boolean): Promise<Run> {
    const records = Array.from({ length: BATCH_ROWS }, (_, i) => record(size.topic, batchPartition, i, eventId()));
    if (withDuplicates) {
      records[100] = record(size.topic, batchPartition, 100, size.oldest!);
      records[900] = record(size.topic, batchPartition, 900, size.newest!);
    }
    batchPartition++;
    const written: BatchWritten = await writeBatch(ctx, size.topic, records);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const audited = await auditBatch(ctx, written);
    const wall = (performance.now() - started) / 1000;
    const cpuUsed = process.cpuUsage(cpuBefore);
    const expected = withDuplicates ? 2 : 0;
    if (audited.untrusted !== expected || (audited.reasons.duplicate ?? 0) !== expected)
      throw new Error(
        `${size.production}: expected ${expected} duplicates of keys on main, the audit says ${JSON.stringify(audited.reasons)}`,
      );
    return { wall, cpu: (cpuUsed.user + cpuUsed.system) / 1e6 };
  }

  for (let round = 0; round < BATCHES; round++) {
    for (let k = 0; k < sizes.length; k++) {
      const size = sizes[(k + round) % sizes.length];
      // The first batch of each size is audited as a fresh auditor process would: nothing cached yet.
      if (round === 0) {
        bloomFilterCache.clear();
        manifestCache.clear();
      }
      size.runs.push(await measureBatch(size, false));
      if (round === 0) size.cachedBytes = bloomFilterCache.size.weight;
    }
  }
  for (const size of sizes) size.duplicates = await measureBatch(size, true);

  const steady = (size: Size) => (size.runs.length > 1 ? size.runs.slice(1) : size.runs);
  const properties = (await productionOf(largest)).properties;
  const blooms = Object.entries(properties).filter(([k]) => k.startsWith('write.parquet.bloom-filter'));
  console.log(
    `\n1,000-record batch, unique [event_id] (random ids), main = a production table in ${FILE_ROWS.toLocaleString('en-US')}-row files (one per day), ` +
      `schema of ${currentSchema(layout).fields.length} columns; ${blooms.length ? blooms.map(([k, v]) => `${k}=${v}`).join(', ') : 'no bloom filter properties'}; ` +
      `${BATCHES} batches per size, interleaved, medians of all but the first\n`,
  );
  console.log(
    '| rows on main | data files | first batch (fresh auditor) wall / CPU | per-batch audit wall (median) | CPU (median) | batch with 2 keys on main, wall / CPU | filters read by a fresh auditor |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const size of sizes) {
    const [cold] = size.runs;
    console.log(
      `| ${size.rows.toLocaleString('en-US')} | ${size.dataFiles} | ${cold.wall.toFixed(3)} s / ${cold.cpu.toFixed(3)} s | ${median(steady(size).map((r) => r.wall)).toFixed(3)} s | ${median(steady(size).map((r) => r.cpu)).toFixed(3)} s | ${size.duplicates!.wall.toFixed(3)} s / ${size.duplicates!.cpu.toFixed(3)} s | ${(size.cachedBytes / 2 ** 20).toFixed(1)} MB |`,
    );
  }
  const smallest = sizes.reduce((a, b) => (b.files < a.files ? b : a));
  const cpuRatio = median(steady(largest).map((r) => r.cpu)) / median(steady(smallest).map((r) => r.cpu));
  const wallRatio = median(steady(largest).map((r) => r.wall)) / median(steady(smallest).map((r) => r.wall));
  console.log(
    `\nratio ${largest.rows.toLocaleString('en-US')} / ${smallest.rows.toLocaleString('en-US')} rows: ${cpuRatio.toFixed(2)}× CPU (${wallRatio.toFixed(2)}× wall) ` +
      `— goal ≤ ${GOAL}× (CPU): ${cpuRatio <= GOAL ? 'met' : 'NOT met'}; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
  );
} finally {
  await nessie.stop();
  await rm(dir, { recursive: true, force: true });
}
