/**
 * Avro manifests and partitioning throughput: writing/reading a 10k-entry manifest with full column metrics, a
 * 1k-manifest list, and computing partition tuples (day + bucket) for 1M rows.
 * Run: `npm run bench -- manifest`
 */
import { readManifest, summarizeManifest, writeManifest } from '../shared/iceberg/manifest.ts';
import { readManifestList, writeManifestList } from '../shared/iceberg/manifest-list.ts';
import { partitionOf } from '../shared/iceberg/partition.ts';
import { schemaFromJson } from '../shared/iceberg/schema.ts';
import {
  EntryStatus,
  FileContent,
  ManifestContent,
  type ManifestEntry,
  type PartitionSpec,
} from '../shared/iceberg/types.ts';
import { benchArgs } from './_args.ts';

benchArgs(
  `Usage: npm run bench -- manifest

Avro manifests and partitioning: a 10k-entry manifest with full column metrics written and read, a 1k-manifest list,
partition tuples for 1M rows.

Options:
  -h, --help  this text`,
  {},
);

const COLUMNS = 20;
const ENTRIES = 10_000;
const MANIFESTS = 1_000;
const ROWS = 1_000_000;

const schema = schemaFromJson({
  type: 'struct',
  'schema-id': 0,
  fields: [
    { id: 1, name: 'event_id', required: true, type: 'string' },
    { id: 2, name: 'event_time', required: true, type: 'timestamptz' },
    { id: 3, name: 'car_id', required: false, type: 'string' },
    ...Array.from({ length: COLUMNS - 3 }, (_, i) => ({ id: 4 + i, name: `c${i}`, required: false, type: 'double' })),
  ],
});
const spec: PartitionSpec = {
  specId: 0,
  fields: [
    { name: 'event_time_day', transform: 'day', sourceId: 2, fieldId: 1000 },
    { name: 'car_id_bucket', transform: 'bucket[16]', sourceId: 3, fieldId: 1001 },
  ],
};

/** Wall time and CPU time (user + system): on a busy machine the CPU time is the steadier of the two. */
function time<T>(label: string, count: number, unit: string, run: () => T): T {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const result = run();
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  const rate = (count / cpuMs) * 1000;
  console.log(
    `${label.padEnd(34)} wall ${ms.toFixed(0).padStart(6)} ms  cpu ${cpuMs.toFixed(0).padStart(6)} ms  ${Math.round(rate).toLocaleString('en-US').padStart(11)} ${unit}/cpu-s`,
  );
  return result;
}

const metric = (value: (id: number) => number) =>
  new Map(Array.from({ length: COLUMNS }, (_, i) => [i + 1, value(i + 1)]));
const bound = (id: number) => Uint8Array.from({ length: 8 }, (_, i) => (id * 7 + i) & 0xff);
const entries: ManifestEntry[] = Array.from({ length: ENTRIES }, (_, i) => ({
  status: EntryStatus.ADDED,
  dataFile: {
    content: FileContent.DATA,
    filePath: `s3://warehouse/production/parking_entry/data/event_time_day=2026-01-${String(1 + (i % 28)).padStart(2, '0')}/car_id_bucket=${i % 16}/00000-${i}-3f1c2a4e-9a1b-4c55-8e0f-6d2b1c9e7a10-00001.parquet`,
    fileFormat: 'PARQUET',
    specId: 0,
    partition: [20454 + (i % 28), i % 16],
    recordCount: 100_000 + i,
    fileSizeInBytes: 64 * 1024 * 1024 + i,
    columnSizes: metric((id) => 1000 * id + i),
    valueCounts: metric(() => 100_000 + i),
    nullValueCounts: metric((id) => id % 3),
    nanValueCounts: metric(() => 0),
    lowerBounds: new Map(Array.from({ length: COLUMNS }, (_, c) => [c + 1, bound(c)])),
    upperBounds: new Map(Array.from({ length: COLUMNS }, (_, c) => [c + 1, bound(c + 100)])),
    splitOffsets: [4],
    sortOrderId: 0,
  },
}));

const snapshotId = 8656952484400131532n;
const bytes = time(`write manifest (${ENTRIES} entries)`, ENTRIES, 'entries', () =>
  writeManifest({ spec, schema, content: ManifestContent.DATA, entries, snapshotId }),
);
console.log(
  `  manifest size: ${(bytes.byteLength / 1024).toFixed(0)} KiB (deflate), ${(bytes.byteLength / ENTRIES).toFixed(0)} B/entry`,
);
const read = time(`read manifest (${ENTRIES} entries)`, ENTRIES, 'entries', () =>
  readManifest(bytes, 'mem://bench-m0.avro'),
);
if (read.entries.length !== ENTRIES) throw new Error('read back a different number of entries');
const summary = time('summarize manifest', ENTRIES, 'entries', () =>
  summarizeManifest({
    path: 's3://w/m0.avro',
    length: bytes.byteLength,
    spec,
    schema,
    content: ManifestContent.DATA,
    snapshotId,
    entries,
  }),
);

const manifests = Array.from({ length: MANIFESTS }, (_, i) => ({
  ...summary,
  manifestPath: `s3://w/metadata/m${i}.avro`,
}));
const list = time(`write manifest list (${MANIFESTS})`, MANIFESTS, 'manifests', () =>
  writeManifestList({ snapshotId, sequenceNumber: 7, manifests }),
);
time(`read manifest list (${MANIFESTS})`, MANIFESTS, 'manifests', () =>
  readManifestList(list, 'mem://bench-list.avro'),
);

const base = 1767225600000000n; // 2026-01-01T00:00:00Z
const rows = Array.from({ length: 10_000 }, (_, i) => ({
  event_id: `e${i}`,
  event_time: base + BigInt(i) * 60_000_000n,
  car_id: `car-${i % 5000}`,
}));
let checksum = 0;
time(`partitionOf day+bucket (${ROWS / 1e6}M rows)`, ROWS, 'rows', () => {
  for (let i = 0; i < ROWS; i++) checksum += partitionOf(spec, schema, rows[i % rows.length])[1] as number;
});
if (!checksum) throw new Error('no partitions computed');
console.log(`  heap used: ${(process.memoryUsage().heapUsed / 1024 / 1024).toFixed(0)} MiB`);
