/**
 * Another engine reads floe's tables: PyIceberg (with PyArrow, from PyPI) opens each table's metadata file written by
 * the chain on the embedded Nessie and scans it to Arrow (read_table.py). Counts and rows must equal `floe scan` —
 * timestamptz values, 64-bit offsets, the claim-check struct, a column added after the first files — and so must a
 * time-travel read of an older snapshot.
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
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const READ_TABLE = fileURLToPath(new URL('./read_table.py', import.meta.url));

interface ReadRequest {
  metadata_location: string;
  snapshot_id?: string;
  columns?: string[];
  order_by?: string;
}

interface ReadResult {
  format_version: number;
  snapshot_id: bigint | number;
  count: number;
  columns: string[];
  rows: Record<string, unknown>[];
}

/** Runs read_table.py in the interop virtualenv. */
function pyiceberg(requests: ReadRequest[]): Promise<ReadResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(inject('python'), [READ_TABLE], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(parseJson<ReadResult[]>(stdout))
        : reject(new Error(`read_table.py exited with ${code}:\n${stderr}`)),
    );
    child.stdin.end(stringifyJson(requests));
  });
}

let stack: TestStack;
let env: Record<string, string>;
let ctx: WapContext;
let firstSnapshot: bigint;

function record(offset: number, payload?: Record<string, unknown>): TaggedRecord {
  return {
    topic: 'parking-entry',
    partition: 0,
    offset: String(offset),
    key: null,
    kafkaTime: null,
    ingestedAt: new Date().toISOString(),
    source: '/s',
    sourceId: `partition:0/offset:${offset}`,
    table: 'parking_entry',
    headers: {},
    ...(payload
      ? { status: 'ok', payload }
      : { status: 'malformed', error: 'value is not valid JSON', raw: Buffer.from('{').toString('base64') }),
  };
}

const DAYS = ['2026-03-01', '2026-03-02', '2026-03-04'];
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
