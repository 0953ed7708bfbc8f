/**
 * `floe sql` against tables written by the chain (writer → auditor → publisher) on the embedded Nessie: every answer
 * is checked against `floe scan` of the same table and ref.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { storeBlob } from '../../functions/tagger/tagging.ts';
import { runFloe } from '../helpers/cli.ts';
import { record } from '../helpers/records.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { commitOnBranch, loadTable } from '../../shared/catalog/table-catalog.ts';
import { currentSchema } from '../../shared/iceberg/metadata.ts';
import { setCurrentSchema } from '../../shared/iceberg/evolution.ts';
import { freePort } from '../../local/stack/processes.ts';

let stack: TestStack;
let env: Record<string, string>;
let ctx: WapContext;
let firstSnapshot: bigint;

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

async function sql(query: string, ...flags: string[]): Promise<Record<string, unknown>[]> {
  const result = await runFloe(['sql', query, '--json', ...flags], { env });
  expect(result.code, result.stderr).toBe(0);
  return parseJson<Record<string, unknown>[]>(result.stdout);
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

function countBy(
  rows: Record<string, unknown>[],
  key: (row: Record<string, unknown>) => string,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) counts[key(row)] = (counts[key(row)] ?? 0) + 1;
  return counts;
}

beforeAll(async () => {
  stack = await startTestStack();
  env = { NESSIE_URI: stack.nessieUri, FLOE_WAREHOUSE: stack.env.warehouse, FLOE_HOME: stack.dir };
  ctx = { catalog: stack.catalog, config: stack.env.pipeline, log: silentLogger };
  // Images as the tagger hands them on: claim checks, a small one inlined, a large one only in the blob store.
  const tagging = { config: stack.env.pipeline, io: stack.catalog.io, warehouse: stack.env.warehouse };
  const small = await storeBlob(tagging, 'parking_entry', Buffer.from('tiny'));
  const large = await storeBlob(tagging, 'parking_entry', Buffer.alloc(4096, 7));
  // Two batches over three days; malformed records and one outside the lot land in the untrusted table.
  await publish([entry(0), entry(1, { image: small }), entry(2), record(3), entry(4, { latitude: 40 })]);
  firstSnapshot = (await loadTable(stack.catalog, 'main', 'production.parking_entry'))!.metadata.currentSnapshotId!;
  await publish([entry(5), entry(6, { image: large }), entry(7), entry(8), record(9)]);
  // A branch made now keeps the table as it is before the schema changes.
  const main = await stack.catalog.client.getReference('main');
  await stack.catalog.client.createReference('analysis', 'BRANCH', { name: 'main', hash: main.hash });
  // A new field in the payload adds a column: the files written before have no `level`.
  await publish([entry(10, { level: 3 }), entry(11, { level: 4 })]);
  // On a branch of its own, car_id is renamed: the data files keep the old name, the field id stays.
  const head = await stack.catalog.client.getReference('main');
  await stack.catalog.client.createReference('renamed', 'BRANCH', { name: 'main', hash: head.hash });
  await commitOnBranch(
    stack.catalog,
    'renamed',
    new Map([
      [
        'production.parking_entry',
        async (base) => {
          const schema = currentSchema(base!);
          return setCurrentSchema(
            base!,
            { ...schema, fields: schema.fields.map((f) => (f.name === 'car_id' ? { ...f, name: 'vehicle' } : f)) },
            base!.lastColumnId,
          );
        },
      ],
    ]),
    { message: 'rename car_id to vehicle' },
  );
}, 120_000);
afterAll(() => stack?.stop());

describe('floe sql', () => {
  it('counts the rows floe scan reads, on main and on a branch', async () => {
    const trusted = await scan('production.parking_entry');
    const untrusted = await scan('production.parking_entry_untrusted');
    expect(trusted.length).toBeGreaterThan(0);
    expect(untrusted.length).toBeGreaterThan(0);
    const [counts] = await sql(
      'select (select count(*) from production.parking_entry) as trusted, (select count(*) from production.parking_entry_untrusted) as untrusted',
    );
    expect(counts).toEqual({ trusted: trusted.length, untrusted: untrusted.length });

    const onBranch = await scan('production.parking_entry', '--ref', 'analysis');
    expect(onBranch.length).toBeLessThan(trusted.length);
    expect(await sql('select count(*) as n from production.parking_entry', '--ref', 'analysis')).toEqual([
      { n: onBranch.length },
    ]);
    // the branch's table has the schema from before the new column
    const missing = await runFloe(['sql', 'select level from production.parking_entry', '--ref', 'analysis'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/level/);
  });

  it('groups by day and by status as floe scan sees them', async () => {
    const trusted = await scan('production.parking_entry');
    const byDay = await sql(
      "select strftime(timestamp, '%Y-%m-%d') as day, count(*) as n from production.parking_entry group by day order by day",
    );
    expect(Object.fromEntries(byDay.map((r) => [r.day, Number(r.n)]))).toEqual(
      countBy(trusted, (r) => String(r.timestamp).slice(0, 10)),
    );
    expect(byDay.length).toBeGreaterThan(1);

    const untrusted = await scan('production.parking_entry_untrusted');
    const byStatus = await sql(
      'select _status, count(*) as n from production.parking_entry_untrusted group by _status order by _status',
    );
    expect(Object.fromEntries(byStatus.map((r) => [r._status, Number(r.n)]))).toEqual(
      countBy(untrusted, (r) => String(r._status)),
    );
    expect(byStatus.length).toBeGreaterThan(1);
  });

  it('reads the same values as floe scan: timestamptz, 64-bit offsets, the claim-check struct', async () => {
    const scanned = await scan('production.parking_entry');
    const rows = await sql(
      "select event_id, _offset, strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%f') as ts, image from production.parking_entry order by _offset",
    );
    const expected = [...scanned].sort((a, b) => Number(a._offset) - Number(b._offset));
    expect(rows.map((r) => [r.event_id, r._offset])).toEqual(expected.map((r) => [r.event_id, r._offset]));
    expect(rows.map((r) => r.ts)).toEqual(
      expected.map((r) =>
        String(r.timestamp)
          .replace(/Z$|\+00:00$/, '')
          .slice(0, 26),
      ),
    );
    const withImage = rows.filter((r) => r.image !== null);
    expect(withImage).toHaveLength(2);
    const images = expected.filter((r) => r.image !== null).map((r) => r.image as Record<string, unknown>);
    expect(withImage.map((r) => (r.image as Record<string, unknown>).uri)).toEqual(images.map((i) => i.uri));
    expect(withImage.map((r) => (r.image as Record<string, unknown>).size_bytes)).toEqual([4, 4096]);
    expect(withImage.map((r) => (r.image as Record<string, unknown>).sha256)).toEqual(images.map((i) => i.sha256));
  });

  it('reads a column added later as NULL in the files written before it', async () => {
    const scanned = await scan('production.parking_entry');
    const rows = await sql(
      'select count(*) as n, count(level) as with_level, sum(level) as total from production.parking_entry',
    );
    expect(rows).toEqual([{ n: scanned.length, with_level: 2, total: 7 }]);
    expect(scanned.filter((r) => r.level !== null && r.level !== undefined)).toHaveLength(2);
  });

  it('reads a renamed column from the files written under its old name (by field id)', async () => {
    const scanned = await scan('production.parking_entry', '--ref', 'renamed');
    expect(scanned[0]).toHaveProperty('vehicle');
    const rows = await sql('select vehicle from production.parking_entry order by _offset', '--ref', 'renamed');
    expect(rows.map((r) => r.vehicle)).toEqual(
      [...scanned].sort((a, b) => Number(a._offset) - Number(b._offset)).map((r) => r.vehicle),
    );
    expect(rows.every((r) => typeof r.vehicle === 'string')).toBe(true);
  });

  it("time travels with --snapshot as floe scan --snapshot does, in that snapshot's schema", async () => {
    const old = `production.parking_entry=${firstSnapshot}`;
    const scanned = await scan('production.parking_entry', '--snapshot', String(firstSnapshot));
    const current = await stack.mainRows('parking_entry');
    expect(scanned.length).toBeGreaterThan(0);
    expect(scanned.length).toBeLessThan(current.trusted.length);
    const rows = await sql('select event_id from production.parking_entry order by event_id', '--snapshot', old);
    expect(rows.map((r) => r.event_id)).toEqual(scanned.map((r) => r.event_id).sort());
    // only the named table travels
    const [counts] = await sql(
      'select (select count(*) from production.parking_entry) as trusted, (select count(*) from production.parking_entry_untrusted) as untrusted',
      '--snapshot',
      old,
    );
    expect(counts).toEqual({ trusted: scanned.length, untrusted: current.untrusted.length });
    // the first snapshot's schema has no `level` yet
    const level = await runFloe(['sql', 'select level from production.parking_entry', '--snapshot', old], { env });
    expect(level.code).toBe(1);
    expect(level.stderr).toMatch(/level/);

    const noTable = await runFloe(['sql', 'select 1', '--snapshot', `production.nope=${firstSnapshot}`], { env });
    expect(noTable.code).toBe(1);
    expect(noTable.stderr).toMatch(/no table production\.nope on main/);
    const noSnapshot = await runFloe(['sql', 'select 1', '--snapshot', 'production.parking_entry=42'], { env });
    expect(noSnapshot.code).toBe(1);
    expect(noSnapshot.stderr).toMatch(/production\.parking_entry at snapshot 42: table has no snapshot 42/);
    expect((await runFloe(['sql', 'select 1', '--snapshot', 'parking_entry=1'], { env })).code).toBe(2);
  });

  it('keeps 64-bit integers exact in --json, and prints CSV and a table', async () => {
    const exact = await runFloe(
      ['sql', 'select 9007199254740993::bigint as big, 12345678901234567890123::hugeint as huge', '--json'],
      { env },
    );
    expect(exact.code, exact.stderr).toBe(0);
    expect(exact.stdout.trim()).toBe('[{"big":9007199254740993,"huge":12345678901234567890123}]');

    const csv = await runFloe(
      ['sql', 'select event_id, slot from production.parking_entry order by _offset', '--csv', '--limit', '2'],
      { env },
    );
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.trim().split('\n')).toEqual(['event_id,slot', 'e0,A-0', 'e1,A-1']);
    const quoted = await runFloe(['sql', `select 'a,b' as "x y", null as n, 'say "hi"' as q`, '--csv'], { env });
    expect(quoted.stdout).toBe('x y,n,q\n"a,b",,"say ""hi"""\n');

    const table = await runFloe(['sql', 'select count(*) as n from production.parking_entry_untrusted'], { env });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^n\n─+\n\s*\d+\n\(1 row\)\n$/);
  });

  it("reads FLOE_HOME's catalog files directly when no catalog answers", async () => {
    // No NESSIE_URI and nothing on the local stack's port: the embedded catalog's directory is opened read-only.
    const home = {
      FLOE_HOME: stack.dir,
      FLOE_LOCAL_NESSIE_PORT: String(await freePort()),
      NESSIE_URI: undefined,
      FLOE_WAREHOUSE: undefined,
      FLOE_CONFIG: undefined,
    };
    const result = await runFloe(['sql', 'select count(*) as n from production.parking_entry', '--json'], {
      env: home,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/catalog: .*nessie opened directly \(read-only/);
    expect(parseJson(result.stdout)).toEqual([{ n: (await scan('production.parking_entry')).length }]);
  });

  it("answers usage errors with 2 and SQL errors with 1 and DuckDB's message", async () => {
    const help = await runFloe(['sql', '--help'], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: floe sql');
    expect((await runFloe(['sql'], { env })).code).toBe(2);
    expect((await runFloe(['sql', 'select 1', '--json', '--csv'], { env })).code).toBe(2);
    expect((await runFloe(['sql', 'select 1', '--limit', 'x'], { env })).code).toBe(2);
    const parse = await runFloe(['sql', 'selec 1'], { env });
    expect(parse.code).toBe(1);
    expect(parse.stderr).toMatch(/Parser Error: syntax error/);
    const unknown = await runFloe(['sql', 'select * from production.nope'], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/Catalog Error: Table with name nope does not exist/);
    expect(unknown.stderr).toContain('tables on main: production.parking_entry, production.parking_entry_untrusted');
  });
});
