/**
 * Table benchmark (issue 2): 1M parking events (1% with ~2 KB images) appended to an Iceberg table as one append —
 * rows split by partition, Parquet files with metrics, manifest, manifest list, metadata, commit — against the raw
 * Parquet encode of the same rows in the same run; then the table read back through floe's scan.
 *
 *   npm run bench -- table            (TABLE_BENCH_ROWS=200000 for a quick run)
 */
import { rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileCatalog } from '../shared/catalog/file.ts';
import { commitTable } from '../shared/iceberg/commit.ts';
import { newTableMetadata } from '../shared/iceberg/metadata.ts';
import { encodeParquetRaw, writeDataFile } from '../shared/iceberg/parquet-writer.ts';
import { scanBatches } from '../shared/iceberg/scan.ts';
import { appendFiles } from '../shared/iceberg/snapshot.ts';
import { writeRows } from '../shared/iceberg/writer.ts';
import { createFileIO, fileLocation } from '../shared/storage/index.ts';
import { logicalSize, parkingEvents, parkingEventSchema } from './_events.ts';

const ROWS = Number(process.env.TABLE_BENCH_ROWS ?? 1_000_000);
const mb = (bytes: number) => bytes / 2 ** 20;
const peakRssMB = () => process.resourceUsage().maxRSS / 1024;

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await run();
  return { value, seconds: (performance.now() - started) / 1000 };
}

const dir = await mkdtemp(path.join(tmpdir(), 'floe-bench-table-'));
try {
  const rows = parkingEvents(ROWS);
  const logical = logicalSize(rows);
  const io = createFileIO({ localFiles: true });
  const catalog = fileCatalog(io, `${fileLocation(dir)}/`);
  const timeId = parkingEventSchema.fields.find((f) => f.name === 'event_time')!.id;
  const created = await commitTable(catalog.port(), 'bench.events', async (base) => base ?? newTableMetadata({
    location: catalog.tableLocation('bench.events'), schema: parkingEventSchema,
    spec: { specId: 0, fields: [{ sourceId: timeId, fieldId: 1000, name: 'event_time_day', transform: 'day' }] },
  }), { io });

  // Warm both paths up (JIT, zstd wasm) on a slice, then time the raw encode — the physical limit of the same step,
  // Parquet bytes of the same rows with no table machinery — before and after the append, and take the mean.
  await encodeParquetRaw(parkingEventSchema, rows.slice(0, 20_000));
  await writeRows(io, created.metadata, rows.slice(0, 20_000));
  const rawBefore = await timed(() => encodeParquetRaw(parkingEventSchema, rows));
  const append = await timed(async () => {
    const files = await writeRows(io, created.metadata, rows);
    return commitTable(catalog.port(), 'bench.events', appendFiles({ io, files }), { io });
  });
  const rawAfter = await timed(() => encodeParquetRaw(parkingEventSchema, rows));
  // Where the append's time goes: the data file with its metrics (no storage), the rest is storage + commit.
  const dataFile = await timed(() => writeDataFile(parkingEventSchema, rows));
  const raw = { value: rawAfter.value, seconds: (rawBefore.seconds + rawAfter.seconds) / 2 };
  const table = append.value.metadata;
  const summary = table.snapshots.at(-1)!.summary;
  let read = 0;
  const scan = await timed(async () => {
    for await (const batch of scanBatches(table, { io })) read += batch.length;
  });
  if (read !== ROWS) throw new Error(`read back ${read} rows, wrote ${ROWS}`);

  const line = (name: string, seconds: number, note = '') =>
    `| ${name} | ${seconds.toFixed(2)} s | ${Math.round(ROWS / seconds).toLocaleString('en-US')} | ${(mb(logical) / seconds).toFixed(1)} | ${note} |`;
  console.log(`\n${ROWS.toLocaleString('en-US')} parking events, ${mb(logical).toFixed(1)} MB of values, ZSTD, day(event_time) partitions\n`);
  console.log('| step | time | rows/s | MB/s | notes |');
  console.log('|---|---|---|---|---|');
  console.log(line('raw Parquet encode (same rows, no table)', raw.seconds, `${mb(raw.value.byteLength).toFixed(1)} MB file; mean of ${rawBefore.seconds.toFixed(2)} s before and ${rawAfter.seconds.toFixed(2)} s after the append`));
  console.log(line('table append (partition, Parquet + metrics, manifests, commit)', append.seconds,
    `${summary['added-data-files']} file(s), ${mb(Number(summary['added-files-size'])).toFixed(1)} MB; ${((append.seconds / raw.seconds - 1) * 100).toFixed(1)}% over the raw encode`));
  console.log(line('  of which: Parquet + column metrics (writeDataFile, no storage)', dataFile.seconds, `${((dataFile.seconds / raw.seconds - 1) * 100).toFixed(1)}% over the raw encode; the rest of the append is partitioning, the storage write (fsync) and the commit`));
  console.log(line('scan back (all columns, by field id)', scan.seconds, ''));
  console.log(`\nappend / raw encode = ${(append.seconds / raw.seconds).toFixed(3)}; peak RSS ${peakRssMB().toFixed(0)} MB`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
