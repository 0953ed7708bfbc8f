/**
 * Another engine reads floe's tables: PyIceberg (with PyArrow, from PyPI) opens each table's metadata file written by
 * the chain on the embedded Nessie and scans it to Arrow (read_table.py). Counts and rows must equal `floe scan` —
 * timestamptz values, 64-bit offsets, the claim-check struct, a column added after the first files — and so must a
 * time-travel read of an older snapshot. Then PyIceberg's RestCatalog finds the same tables through the embedded
 * Nessie's Iceberg REST endpoint (`/iceberg`, warehouse `warehouse`), on main and on a WAP branch.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { storeBlob } from '../../functions/tagger/tagging.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { loadTable } from '../../shared/catalog/table-catalog.ts';
import { parseJson, stringifyJson } from '../../shared/util/lossless-json.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { runFloe } from '../helpers/cli.ts';
import { record } from '../helpers/records.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const READ_TABLE = fileURLToPath(new URL('./read_table.py', import.meta.url));

interface RestCatalogOptions {
  uri: string;
  warehouse?: string;
  /** A Nessie branch: the catalog URI gets it as its last segment, as Nessie serves `/iceberg/{ref}`. */
  ref?: string;
}

type ReadRequest = { snapshot_id?: string; row_filter?: string; columns?: string[]; order_by?: string } & (
  { metadata_location: string } | { catalog: RestCatalogOptions; table: string }
);

interface ReadResult {
  format_version: number;
  snapshot_id: bigint | number;
  metadata_location: string;
  count: number;
  spec_ids: number[];
  default_spec: [number, string][];
  file_spec_ids: number[];
  columns: string[];
  rows: Record<string, unknown>[];
}

interface Listing {
  namespaces: string[][];
  tables: string[][];
}

/** Runs read_table.py in the interop virtualenv. */
function pyiceberg(requests: ReadRequest[]): Promise<ReadResult[]>;
function pyiceberg(requests: Array<{ catalog: RestCatalogOptions; list: true }>): Promise<Listing[]>;
function pyiceberg(requests: unknown[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(inject('python'), [READ_TABLE], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(parseJson<unknown[]>(stdout))
        : reject(new Error(`read_table.py exited with ${code}:\n${stderr}`)),
    );
    child.stdin.end(stringifyJson(requests));
  });
}

let stack: TestStack;
let env: Record<string, string>;
let ctx: WapContext;
let firstSnapshot: bigint;

const DAYS = ['2026-03-01', '2026-03-02', '2026-03-04'];
const EVOLVED = 'parking-entry-evolved';
function entry(offset: number, extra: Record<string, unknown> = {}): TaggedRecord {
  return record(offset, {
    event_id: `e${offset}`,
    timestamp: `${DAYS[offset % DAYS.length]}T0${offset % 10}:15:00.123456Z`,
    car_id: `B-${offset}`,
    slot: `A-${offset % 4}`,
    latitude: 52.5205,
    longitude: 13.405,
    ...extra,
  });
}

async function publish(records: TaggedRecord[]): Promise<void> {
  await publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', records)));
}

async function scan(table: string, ...flags: string[]): Promise<Record<string, unknown>[]> {
  const result = await runFloe(['scan', table, '--json', ...flags], { env });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => parseJson<Record<string, unknown>>(line));
}

async function metadataLocation(name: string): Promise<string> {
  const table = await loadTable(stack.catalog, 'main', name);
  if (!table) throw new Error(`${name} is not on main`);
  return table.metadataLocation;
}

/** A timestamptz as both sides print it: ISO-8601 in UTC with microseconds. */
function utc(value: unknown): string {
  const text = String(value).replace(/(\+00:00|Z)$/, '');
  const [seconds, fraction = ''] = text.split('.');
  return `${seconds}.${fraction.padEnd(6, '0')}Z`;
}

beforeAll(async () => {
  stack = await startTestStack();
  env = { NESSIE_URI: stack.nessieUri, FLOE_WAREHOUSE: stack.env.warehouse, FLOE_HOME: stack.dir };
  ctx = { catalog: stack.catalog, config: stack.env.pipeline, log: silentLogger };
  const tagging = { config: stack.env.pipeline, io: stack.catalog.io, warehouse: stack.env.warehouse };
  const small = await storeBlob(tagging, 'parking_entry', Buffer.from('tiny'));
  const large = await storeBlob(tagging, 'parking_entry', Buffer.alloc(4096, 7));
  await publish([entry(0), entry(1, { image: small }), entry(2), record(3), entry(4, { latitude: 40 })]);
  firstSnapshot = (await loadTable(stack.catalog, 'main', 'production.parking_entry'))!.metadata.currentSnapshotId!;
  await publish([entry(5), entry(6, { image: large }), entry(7), entry(8), record(9)]);
  // a new payload field adds a column after the first files
  await publish([entry(10, { level: 3 }), entry(11, { level: 4 })]);
  // a table whose partitioning evolved: by hour, then the config says day
  for (const [partitionBy, offsets] of [
    ['hour(timestamp)', [100, 101, 102, 103, 104]],
    ['day(timestamp)', [105, 106, 107, 108, 109]],
  ] as const) {
    const evolved = {
      ...ctx.config.topics['parking-entry'],
      table: 'parking_entry_evolved',
      partitionBy: [partitionBy],
    };
    const evolving = { ...ctx, config: { ...ctx.config, topics: { ...ctx.config.topics, [EVOLVED]: evolved } } };
    const records = offsets.map((o) => ({ ...entry(o), topic: EVOLVED, table: evolved.table }));
    await publishBatch(evolving, await auditBatch(evolving, await writeBatch(evolving, EVOLVED, records)));
  }
}, 120_000);
afterAll(() => stack?.stop());

describe('PyIceberg reads floe tables', () => {
  it('counts and rows equal floe scan: timestamptz, 64-bit offsets, the claim-check struct, an added column', async () => {
    const scanned = (await scan('production.parking_entry')).sort((a, b) => Number(a._offset) - Number(b._offset));
    const [read] = await pyiceberg([
      {
        metadata_location: await metadataLocation('production.parking_entry'),
        columns: ['event_id', '_offset', 'timestamp', '_ingested_at', 'car_id', 'image', 'level'],
        order_by: '_offset',
      },
    ]);
    expect(read.format_version).toBe(2);
    expect(read.count).toBe(scanned.length);
    expect(read.rows.map((r) => [r.event_id, r._offset, r.car_id, r.level ?? null])).toEqual(
      scanned.map((r) => [r.event_id, r._offset, r.car_id, r.level ?? null]),
    );
    expect(read.rows.map((r) => utc(r.timestamp))).toEqual(scanned.map((r) => utc(r.timestamp)));
    expect(read.rows.map((r) => utc(r._ingested_at))).toEqual(scanned.map((r) => utc(r._ingested_at)));
    expect(read.rows.filter((r) => r.level !== null)).toHaveLength(2);

    const images = (rows: Record<string, unknown>[]) =>
      rows
        .filter((r) => r.image !== null)
        .map((r) => {
          const image = r.image as Record<string, unknown>;
          return {
            uri: image.uri,
            size_bytes: Number(image.size_bytes),
            sha256: image.sha256,
            content_type: image.content_type,
            inline: image.inline !== null && image.inline !== undefined,
          };
        });
    expect(images(read.rows)).toHaveLength(2);
    expect(images(read.rows)).toEqual(images(scanned));
    expect(images(read.rows).map((i) => [i.size_bytes, i.inline])).toEqual([
      [4, true],
      [4096, false],
    ]);
  });

  it('reads the untrusted table: statuses, reasons and raw bytes', async () => {
    const scanned = (await scan('production.parking_entry_untrusted', '--raw', 'base64')).sort(
      (a, b) => Number(a._offset) - Number(b._offset),
    );
    const [read] = await pyiceberg([
      {
        metadata_location: await metadataLocation('production.parking_entry_untrusted'),
        columns: ['_offset', '_status', '_reasons', '_raw'],
        order_by: '_offset',
      },
    ]);
    expect(scanned.map((r) => r._status)).toEqual(expect.arrayContaining(['malformed']));
    expect(read.count).toBe(scanned.length);
    expect(read.rows).toEqual(
      scanned.map((r) => ({ _offset: r._offset, _status: r._status, _reasons: r._reasons, _raw: r._raw })),
    );
  });

  it('time travels to an older snapshot as floe scan --snapshot does', async () => {
    const scanned = await scan('production.parking_entry', '--snapshot', String(firstSnapshot));
    const [read] = await pyiceberg([
      {
        metadata_location: await metadataLocation('production.parking_entry'),
        snapshot_id: String(firstSnapshot),
        columns: ['event_id'],
        order_by: 'event_id',
      },
    ]);
    expect(BigInt(read.snapshot_id)).toBe(firstSnapshot);
    expect(read.count).toBe(scanned.length);
    expect(read.rows.map((r) => r.event_id)).toEqual(scanned.map((r) => r.event_id).sort());
    // the old snapshot's schema has no `level` yet
    expect(read.columns).not.toContain('level');
  });
});

describe('PyIceberg reads a table whose partitioning evolved (hour, then day)', () => {
  it('sees both specs, the hour field id kept for spec 0 and a new one for day, and every row', async () => {
    const location = await metadataLocation('production.parking_entry_evolved');
    const [all, filtered] = await pyiceberg([
      { metadata_location: location, columns: ['event_id'], order_by: 'event_id' },
      {
        metadata_location: location,
        row_filter: "timestamp >= '2026-03-02T00:00:00+00:00'",
        columns: ['event_id'],
        order_by: 'event_id',
      },
    ]);
    expect(all.spec_ids).toEqual([0, 1]);
    expect(all.default_spec).toEqual([[1001, 'day']]);
    expect(new Set(all.file_spec_ids)).toEqual(new Set([0, 1]));
    const scanned = await scan('production.parking_entry_evolved');
    expect(all.rows.map((r) => r.event_id)).toEqual(scanned.map((r) => r.event_id).sort());
    expect(all.count).toBe(10);

    // PyIceberg prunes each file by its own spec: the filter must still find exactly floe's rows
    const where = await scan('production.parking_entry_evolved', '--where', "timestamp >= '2026-03-02T00:00:00Z'");
    expect(filtered.rows.map((r) => r.event_id)).toEqual(where.map((r) => r.event_id).sort());
    expect(filtered.count).toBeGreaterThan(0);
    expect(filtered.count).toBeLessThan(all.count);
    expect(filtered.file_spec_ids.length).toBeLessThan(all.file_spec_ids.length);
  });
});

describe("PyIceberg's RestCatalog through the embedded Nessie's Iceberg REST endpoint", () => {
  let rest: RestCatalogOptions;
  let tables: string[];
  let wapBranch: string;

  /** Rows as a sorted list of their JSON texts: the same rows in any order compare equal. */
  const rowSet = (rows: Record<string, unknown>[]) => rows.map((row) => stringifyJson(row)).sort();

  beforeAll(async () => {
    rest = { uri: stack.nessieUri.replace(/\/api$/, '/iceberg'), warehouse: 'warehouse' };
    const entries = (await stack.catalog.client.listEntries('main')).value;
    tables = entries
      .filter((e) => e.type === 'ICEBERG_TABLE')
      .map((e) => e.name.elements.join('.'))
      .sort();
    // a batch written and audited but not published: only its WAP branch has these rows
    const written = await writeBatch(ctx, 'parking-entry', [entry(20), entry(21), entry(22)]);
    await auditBatch(ctx, written);
    wapBranch = written.branch;
  });

  it('lists the namespaces and tables Nessie has on main', async () => {
    const [listing] = await pyiceberg([{ catalog: rest, list: true }]);
    const namespaces = (await stack.catalog.client.listEntries('main')).value
      .filter((e) => e.type === 'NAMESPACE')
      .map((e) => e.name.elements);
    expect(listing.namespaces.sort()).toEqual(namespaces.sort());
    expect(listing.tables.map((t) => t.join('.')).sort()).toEqual(tables);
    expect(tables).toEqual(expect.arrayContaining(['production.parking_entry', 'production.parking_entry_untrusted']));
  });

  it('loads each table and scans it to Arrow: counts and rows equal floe scan and the metadata-file read', async () => {
    const locations = await Promise.all(tables.map((name) => metadataLocation(name)));
    const viaCatalog = await pyiceberg(tables.map((table) => ({ catalog: rest, table })));
    const viaFile = await pyiceberg(locations.map((location) => ({ metadata_location: location })));
    for (const [i, name] of tables.entries()) {
      const read = viaCatalog[i];
      expect(read.metadata_location, name).toBe(locations[i]);
      expect(BigInt(read.snapshot_id), name).toBe(BigInt(viaFile[i].snapshot_id));
      const scanned = await scan(name, '--raw', 'base64');
      expect(read.count, name).toBe(scanned.length);
      expect(read.count, name).toBe(viaFile[i].count);
      expect(read.columns, name).toEqual(viaFile[i].columns);
      expect(rowSet(read.rows), name).toEqual(rowSet(viaFile[i].rows));
    }

    const at = tables.indexOf('production.parking_entry');
    const rows = [...viaCatalog[at].rows].sort((a, b) => Number(a._offset) - Number(b._offset));
    const scanned = (await scan('production.parking_entry')).sort((a, b) => Number(a._offset) - Number(b._offset));
    const sample = (r: Record<string, unknown>) => [r.event_id, r._offset, r.car_id, utc(r.timestamp), r.level ?? null];
    expect(rows.map(sample)).toEqual(scanned.map(sample));
    expect(rows.length).toBeGreaterThan(5);

    const untrusted = tables.indexOf('production.parking_entry_untrusted');
    const bad = [...viaCatalog[untrusted].rows].sort((a, b) => Number(a._offset) - Number(b._offset));
    const badScanned = (await scan('production.parking_entry_untrusted', '--raw', 'base64')).sort(
      (a, b) => Number(a._offset) - Number(b._offset),
    );
    expect(bad.map((r) => [r._offset, r._status, r._raw])).toEqual(
      badScanned.map((r) => [r._offset, r._status, r._raw]),
    );
  });

  it('reads a WAP branch through the prefix: the branch rows, as floe scan --ref sees them', async () => {
    const onBranch = { ...rest, ref: wapBranch };
    const [branchRead, mainRead] = await pyiceberg([
      { catalog: onBranch, table: 'production.parking_entry', columns: ['event_id'], order_by: 'event_id' },
      { catalog: rest, table: 'production.parking_entry', columns: ['event_id'], order_by: 'event_id' },
    ]);
    const scanned = await scan('production.parking_entry', '--ref', wapBranch);
    expect(branchRead.count).toBe(scanned.length);
    expect(branchRead.rows.map((r) => r.event_id)).toEqual(scanned.map((r) => r.event_id).sort());
    expect(branchRead.count).toBe(mainRead.count + 3);
    expect(branchRead.rows.map((r) => r.event_id)).toEqual(expect.arrayContaining(['e20', 'e21', 'e22']));
    expect(mainRead.rows.map((r) => r.event_id)).not.toContain('e20');
    const branchTable = (await loadTable(stack.catalog, wapBranch, 'production.parking_entry'))!;
    expect(branchRead.metadata_location).toBe(branchTable.metadataLocation);
    expect(BigInt(branchRead.snapshot_id)).toBe(branchTable.metadata.currentSnapshotId);
  });
});
