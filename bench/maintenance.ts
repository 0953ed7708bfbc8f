/**
 * Table maintenance benchmark, all in one process on a local warehouse with the embedded Nessie:
 * 1. compaction throughput (MB/s of input Parquet, by wall and by CPU time) of `compactTable` — plan, rewrite, commit —
 *    with each engine (`js`: decode rows and write them with floe's writer; `duckdb`: DuckDB copies the groups,
 *    metrics merged from the inputs) on two tables built from the same appends, against the raw JS floor in the same
 *    run: hyparquet read (`readDataFile`) + `writeDataFile` + store write of the very same files and rows, grouped the
 *    same way; then both compacted tables are checked to hold the same rows and the same column metrics. The `bloom`
 *    variant repeats the engine comparison on tables that ask for a bloom filter on `event_id` (as the production
 *    tables do on their `unique` key) and checks that the DuckDB-written files carry one in every row group;
 * 2. orphan scan time per 10k listed objects (mark every reference, list, match; dry run), then the delete run.
 *
 *   npm run bench -- maintenance
 *   MAINT_BENCH_APPENDS=50 MAINT_BENCH_ROWS=10000 MAINT_BENCH_OBJECTS=20000 MAINT_BENCH_VARIANTS=plain,bloom \
 *     node --import tsx bench/maintenance.ts
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createNessieClient } from '../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTable, newTableLocation, type Catalog } from '../shared/catalog/table-catalog.ts';
import { newTableMetadata, snapshotForRef } from '../shared/iceberg/metadata.ts';
import { readBloomFilters, readDataFile } from '../shared/iceberg/parquet-reader.ts';
import { writeDataFile } from '../shared/iceberg/parquet-writer.ts';
import { appendFiles, readManifestEntries, readManifestFiles } from '../shared/iceberg/snapshot.ts';
import { writeRows } from '../shared/iceberg/writer.ts';
import { scanRows } from '../shared/iceberg/scan.ts';
import { stringifyJson } from '../shared/util/lossless-json.ts';
import type { DataFile, PartitionSpec } from '../shared/iceberg/types.ts';
import { compactTable } from '../shared/maintenance/compaction.ts';
import { createMarker, markClaimChecks, markReferences } from '../shared/maintenance/reachable-files.ts';
import { removeOrphanFiles } from '../shared/maintenance/orphan-cleanup.ts';
import { createFileIO } from '../shared/storage/index.ts';
import { startNessieServer } from '../local/nessie/index.ts';
import { parkingEvents, parkingEventSchema as schema } from './_events.ts';
import { silentLogger } from './_measure.ts';
import { benchArgs } from './_args.ts';

const USAGE = `Usage: npm run bench -- maintenance

Compaction throughput of the js and duckdb engines (plain tables and tables with a bloom filter on event_id) against
the raw read + write floor, then the orphan scan. Environment:
  MAINT_BENCH_APPENDS   appends per table (default 50)
  MAINT_BENCH_ROWS      rows per append (default 10000)
  MAINT_BENCH_OBJECTS   stray objects for the orphan scan (default 20000)
  MAINT_BENCH_VARIANTS  table variants to compact, comma-separated: plain, bloom (default both)`;
benchArgs(USAGE, {});

const APPENDS = Number(process.env.MAINT_BENCH_APPENDS ?? 50);
const ROWS = Number(process.env.MAINT_BENCH_ROWS ?? 10_000);
const OBJECTS = Number(process.env.MAINT_BENCH_OBJECTS ?? 20_000);
const TARGET = 8 * 1024 * 1024;
const VARIANTS = (process.env.MAINT_BENCH_VARIANTS ?? 'plain,bloom').split(',').map((v) => v.trim());
for (const v of VARIANTS)
  if (v !== 'plain' && v !== 'bloom') throw new Error(`unknown MAINT_BENCH_VARIANTS entry ${v}`);
const BLOOM_PROPERTIES = { 'write.parquet.bloom-filter-enabled.column.event_id': 'true' };

const spec: PartitionSpec = {
  specId: 0,
  fields: [{ sourceId: 3, fieldId: 1000, name: 'car_id_bucket', transform: 'bucket[4]' }],
};

async function timed<T>(run: () => Promise<T>): Promise<{ result: T; seconds: number; cpuSeconds: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = await run();
  const used = process.cpuUsage(cpu);
  return { result, seconds: (performance.now() - start) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

const mb = (bytes: number) => bytes / 1024 / 1024;

async function liveFiles(catalog: Catalog, table: string): Promise<DataFile[]> {
  const { metadata } = (await loadTable(catalog, 'main', table))!;
  const files: DataFile[] = [];
  for (const manifest of await readManifestFiles(catalog.io, snapshotForRef(metadata, 'main'))) {
    for (const entry of await readManifestEntries(catalog.io, manifest, metadata))
      if (entry.status !== 2) files.push(entry.dataFile);
  }
  return files;
}

/** The floor: read the same files with hyparquet, write the same rows with the same writer, grouped per partition. */
async function rawRewrite(catalog: Catalog, files: DataFile[], scratch: string): Promise<number> {
  const byPartition = new Map<string, DataFile[]>();
  for (const f of files)
    byPartition.set(String(f.partition[0]), [...(byPartition.get(String(f.partition[0])) ?? []), f]);
  let written = 0;
  for (const [partition, group] of byPartition) {
    const inputBytes = group.reduce((s, f) => s + f.fileSizeInBytes, 0);
    const rowsPerFile = Math.ceil(
      group.reduce((s, f) => s + f.recordCount, 0) / Math.max(1, Math.round(inputBytes / TARGET)),
    );
    let buffer: Record<string, unknown>[] = [];
    const flush = async () => {
      const { bytes } = await writeDataFile(schema, buffer);
      await catalog.io.write(`${scratch}${partition}-${written++}.parquet`, bytes);
      buffer = [];
    };
    for (const file of group) {
      for (const row of await readDataFile(await catalog.io.read(file.filePath), { location: file.filePath, schema })) {
        buffer.push(row);
        if (buffer.length >= rowsPerFile) await flush();
      }
    }
    if (buffer.length) await flush();
  }
  return written;
}

/** The two compacted tables: the same rows, and per partition the same record counts and column metrics. */
async function sameContents(catalog: Catalog, duckTable: string, jsTable: string): Promise<void> {
  const key = (f: DataFile) => String(f.partition[0]);
  const metrics = (f: DataFile) =>
    stringifyJson({
      records: f.recordCount,
      partition: f.partition,
      ...Object.fromEntries(
        (['valueCounts', 'nullValueCounts', 'nanValueCounts', 'lowerBounds', 'upperBounds'] as const).map((m) => [
          m,
          [...(f[m]?.entries() ?? [])]
            .sort(([a], [b]) => a - b)
            .map(([id, v]) => [id, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]),
        ]),
      ),
    });
  const [a, b] = await Promise.all([liveFiles(catalog, duckTable), liveFiles(catalog, jsTable)]);
  const byPartition = (files: DataFile[]) => new Map(files.map((f) => [key(f), metrics(f)]));
  const [ma, mb2] = [byPartition(a), byPartition(b)];
  if (a.length !== b.length || [...ma].some(([k, v]) => mb2.get(k) !== v))
    throw new Error(`the engines' files differ:\n${[...ma.values()].join('\n')}\n---\n${[...mb2.values()].join('\n')}`);
  const digest = async (table: string) => {
    const { metadata } = (await loadTable(catalog, 'main', table))!;
    const rows = await scanRows(metadata, { io: catalog.io });
    return rows
      .map((r) => stringifyJson(r))
      .sort()
      .join('\n');
  };
  if ((await digest(duckTable)) !== (await digest(jsTable))) throw new Error('the engines wrote different rows');
}

/** Checks that every live file of `table` has an `event_id` filter in every row group; says how many and how big. */
async function bloomCoverage(catalog: Catalog, table: string): Promise<string> {
  const id = schema.fields.find((f) => f.name === 'event_id')!.id;
  let groups = 0;
  let bytes = 0;
  const files = await liveFiles(catalog, table);
  for (const file of files) {
    const filters = await readBloomFilters(catalog.io, { location: file.filePath, fieldIds: [id] });
    for (const group of filters.rowGroups) {
      const filter = group.filters.get(id);
      if (!filter) throw new Error(`${file.filePath} has a row group without an event_id bloom filter`);
      groups++;
      bytes += filter.numBytes;
    }
  }
  return `an event_id bloom filter in each of ${groups} row groups of ${files.length} files, ${mb(bytes).toFixed(2)} MiB of filters`;
}

async function main(): Promise<void> {
  const tmp = { dir: await mkdtemp(path.join(tmpdir(), 'floe-bench-maintenance-')) };
  const nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  const local = createFileIO({ localFiles: true });
  // Work-around, reported: parquet-reader's exactArrayBuffer hands hyparquet the whole 8 KiB Buffer pool when the
  // local store returns a pooled Buffer (ranged reads of files > 512 KiB), so such files fail with "no PAR1 magic".
  const io = {
    ...local,
    readRange: async (location: string, offset: number, length: number) =>
      new Uint8Array(await local.readRange(location, offset, length)),
  };
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io,
    warehouse: `file://${tmp.dir}/warehouse/`,
  };
  try {
    const variants = VARIANTS.map((variant) => {
      const base = variant === 'bloom' ? 'bench.events_bloom' : 'bench.events';
      return { variant, duck: base, js: `${base}_js`, properties: variant === 'bloom' ? BLOOM_PROPERTIES : {} };
    });
    const tables = variants.flatMap((v) => [
      { name: v.duck, properties: v.properties },
      { name: v.js, properties: v.properties },
    ]);
    console.log(
      `building ${tables.length} tables of ${APPENDS} appends × ${ROWS} rows (4 bucket partitions → ${APPENDS * 4} small files each)…`,
    );
    for (const table of tables) {
      await commitOnBranch(
        catalog,
        'main',
        new Map([
          [
            table.name,
            async (base) =>
              base ??
              newTableMetadata({
                location: newTableLocation(catalog.warehouse, table.name),
                schema,
                spec,
                properties: { 'write.target-file-size-bytes': String(TARGET), ...table.properties },
              }),
          ],
        ]),
        { message: 'create' },
      );
    }
    for (let i = 0; i < APPENDS; i++) {
      const rows = parkingEvents(ROWS, i + 1);
      for (const table of tables) {
        const { metadata } = (await loadTable(catalog, 'main', table.name))!;
        const files = await writeRows(catalog.io, metadata, rows);
        await commitOnBranch(catalog, 'main', new Map([[table.name, appendFiles({ io: catalog.io, files })]]), {
          message: 'append',
        });
      }
    }
    const files = await liveFiles(catalog, variants[0].duck);
    const inputBytes = files.reduce((s, f) => s + f.fileSizeInBytes, 0);
    const rows = files.reduce((s, f) => s + f.recordCount, 0);
    console.log(
      `input: ${files.length} files, ${rows.toLocaleString('en-US')} rows, ${mb(inputBytes).toFixed(1)} MiB Parquet (zstd) per ${variants[0].variant} table\n`,
    );

    const raw = await timed(() => rawRewrite(catalog, files, `${catalog.warehouse}_bench/raw/`));
    const line = (label: string, t: { seconds: number; cpuSeconds: number }, bytes: number, outputs: number) =>
      console.log(
        `${label.padEnd(50)} ${t.seconds.toFixed(2).padStart(6)} s  cpu ${t.cpuSeconds.toFixed(2).padStart(6)} s  ${(mb(bytes) / t.seconds).toFixed(1).padStart(6)} MiB/s  ${(mb(bytes) / t.cpuSeconds).toFixed(1).padStart(6)} MiB/cpu-s  → ${outputs} files`,
      );
    line('raw read + write (hyparquet + writeDataFile)', raw, inputBytes, raw.result);
    for (const v of variants) {
      const input = await liveFiles(catalog, v.duck);
      const bytesIn = input.reduce((s, f) => s + f.fileSizeInBytes, 0);
      const compactJs = await timed(() => compactTable(catalog, v.js, { log: silentLogger, engine: 'js' }));
      // the bloom variant measures the opt-in engine (the default leaves bloom-filtered tables to the JS rewrite)
      const duckEngine = v.variant === 'bloom' ? 'duckdb-bloom' : 'duckdb';
      const compactDuck = await timed(() => compactTable(catalog, v.duck, { log: silentLogger, engine: duckEngine }));
      for (const compact of [compactJs, compactDuck]) {
        if (compact.result.outcome !== 'committed')
          throw new Error(`compaction did not commit: ${JSON.stringify(compact.result)}`);
      }
      if (compactDuck.result.details?.jsGroups) throw new Error(`the duckdb engine fell back to js on ${v.duck}`);
      const tag = v.variant === 'bloom' ? ', bloom filter on event_id' : '';
      line(`compactTable, js engine${tag}`, compactJs, bytesIn, compactJs.result.filesAfter);
      line(`compactTable, duckdb engine (1 thread)${tag}`, compactDuck, bytesIn, compactDuck.result.filesAfter);
      const ratio = (t: { seconds: number; cpuSeconds: number }) =>
        `${((raw.seconds / t.seconds) * 100).toFixed(0)} % of the raw throughput by wall time, ${((raw.cpuSeconds / t.cpuSeconds) * 100).toFixed(0)} % by CPU time`;
      console.log(`[${v.variant}] js engine / raw: ${ratio(compactJs)}`);
      console.log(`[${v.variant}] duckdb engine / raw: ${ratio(compactDuck)}`);
      console.log(
        `[${v.variant}] duckdb / js engine: ${(compactJs.cpuSeconds / compactDuck.cpuSeconds).toFixed(1)}× less CPU, ${(compactJs.seconds / compactDuck.seconds).toFixed(1)}× faster by wall time`,
      );
      const [jsBytes, duckBytes] = [compactJs.result.bytesAfter, compactDuck.result.bytesAfter];
      console.log(
        `[${v.variant}] output: js ${mb(jsBytes).toFixed(1)} MiB, duckdb ${mb(duckBytes).toFixed(1)} MiB (${(((duckBytes - jsBytes) / jsBytes) * 100).toFixed(1)} %)`,
      );
      if (v.variant === 'bloom') {
        console.log(`[bloom] duckdb files: ${await bloomCoverage(catalog, v.duck)}`);
        console.log(`[bloom] js files: ${await bloomCoverage(catalog, v.js)}`);
      }
      await sameContents(catalog, v.duck, v.js);
      console.log(
        `[${v.variant}] both compacted tables hold the same rows, and their files the same record counts and column metrics\n`,
      );
    }

    console.log(`writing ${OBJECTS.toLocaleString('en-US')} stray objects…`);
    for (let d = 0; d * 1000 < OBJECTS; d++) {
      const dir = `${tmp.dir}/warehouse/stray/${String(d).padStart(4, '0')}`;
      await mkdir(dir, { recursive: true });
      await Promise.all(
        Array.from({ length: Math.min(1000, OBJECTS - d * 1000) }, (_, i) => writeFile(`${dir}/${i}.bin`, 'x')),
      );
    }
    const later = () => Date.now() + 4 * 86_400_000;
    const marker = createMarker(catalog.io);
    const mark = await timed(() => markReferences(marker, catalog.client));
    const marked = marker.files;
    const blobs = await timed(() => markClaimChecks(marker));
    const scan = await timed(() => removeOrphanFiles(catalog, { now: later, dryRun: true }));
    const listing = scan.seconds - mark.seconds - blobs.seconds;
    const per10k = (seconds: number, listed: number) =>
      `${((seconds / listed) * 10_000 * 1000).toFixed(0)} ms per 10k objects`;
    console.log(
      `mark: ${marked} files reachable from ${marker.references} reference(s) in ${(mark.seconds * 1000).toFixed(0)} ms`,
    );
    console.log(
      `claim-check uri columns: ${blobs.result.filesRead} data files read in ${(blobs.seconds * 1000).toFixed(0)} ms (${((blobs.seconds / Math.max(1, blobs.result.filesRead)) * 1000).toFixed(1)} ms per file)`,
    );
    console.log(
      `orphan scan (dry run): ${scan.result.listed.toLocaleString('en-US')} objects listed, ${scan.result.orphans.length.toLocaleString('en-US')} orphans in ${scan.seconds.toFixed(2)} s = ${per10k(scan.seconds, scan.result.listed)}; list + match alone ≈ ${per10k(listing, scan.result.listed)}`,
    );
    const remove = await timed(() => removeOrphanFiles(catalog, { now: later }));
    console.log(
      `orphan removal: ${remove.result.deleted.toLocaleString('en-US')} deleted in ${remove.seconds.toFixed(2)} s = ${per10k(remove.seconds, remove.result.listed)}`,
    );
    console.log(
      `  heap used: ${mb(process.memoryUsage().heapUsed).toFixed(0)} MiB, rss ${mb(process.memoryUsage().rss).toFixed(0)} MiB`,
    );
  } finally {
    await nessie.stop();
    await rm(tmp.dir, { recursive: true, force: true });
  }
}

await main();
