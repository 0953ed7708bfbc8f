/**
 * Write-Audit-Publish against the embedded Nessie server over HTTP and real files: a batch lands on main exactly once,
 * in production or _untrusted, atomically; redelivery, replays and concurrent batches change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { loadPipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { parkingEntry } from '../helpers/records.ts';

const NOW = new Date('2026-11-22T10:00:00Z');

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: { uri: string; stop(): Promise<void> };
let ctx: WapContext;

beforeAll(async () => {
  tmp = await tempDir('floe-wap');
  nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${tmp.dir}/warehouse/`,
  };
  const config = loadPipelineConfig('knative/config/pipeline.yaml');
  config.audit.maxUntrustedRatio = 0.5;
  config.audit.minRowsForGate = 5;
  ctx = { catalog, config, log: silentLogger, now: () => NOW };
});
afterAll(async () => {
  await nessie?.stop();
  await tmp?.cleanup();
});

let nextEvent = 0;
function entry(partition: number, offset: number, payload: Record<string, unknown> | 'malformed' = {}): TaggedRecord {
  const time = NOW.toISOString();
  if (payload !== 'malformed') {
    const fields = { event_id: `evt-${nextEvent++}`, timestamp: '2026-11-22T09:59:00.000Z', ...payload };
    return parkingEntry({ partition, offset, time, payload: fields });
  }
  const { payload: _valid, ...envelope } = parkingEntry({ partition, offset, time });
  return {
    ...envelope,
    status: 'malformed',
    error: 'value is not valid JSON',
    raw: Buffer.from('{oops').toString('base64'),
  };
}

async function mainRows() {
  const { tables } = await loadTables(ctx.catalog, 'main', [
    'production.parking_entry',
    'production.parking_entry_untrusted',
  ]);
  const trusted = tables.get('production.parking_entry')
    ? await scanRows(tables.get('production.parking_entry')!.metadata, { io: ctx.catalog.io })
    : [];
  const untrusted = tables.get('production.parking_entry_untrusted')
    ? await scanRows(tables.get('production.parking_entry_untrusted')!.metadata, { io: ctx.catalog.io })
    : [];
  return { trusted, untrusted };
}

function coordinates(rows: Record<string, unknown>[]): string[] {
  return rows.map((r) => `${r[Column.partition]}:${r[Column.offset]}`).sort();
}

describe('write → audit → publish', () => {
  it('lands every record exactly once, bad ones in _untrusted with reasons, staging never on main', async () => {
    const records = [
      ...Array.from({ length: 40 }, (_, i) => entry(0, i)),
      entry(0, 40, 'malformed'),
      entry(0, 41, { car_id: null }),
      entry(0, 42, { latitude: 123 }),
      entry(0, 43, { timestamp: '2027-01-01T00:00:00Z' }),
      entry(0, 44, { slot: 17 }),
      entry(0, 45, { event_id: 'evt-3' }),
      entry(0, 3), // the same Kafka record redelivered inside the batch: collapsed
    ];
    const written = await writeBatch(ctx, 'parking-entry', records);
    expect(written.rows).toBe(46);
    expect(written.branch).toMatch(/^wap\/parking_entry\//);
    // Staging files are written once and read once: the cheapest ZSTD level; production keeps the default.
    const onBranch = await loadTables(ctx.catalog, `${written.branch}@${written.hash}`, ['staging.parking_entry']);
    expect(onBranch.tables.get('staging.parking_entry')!.metadata.properties).toMatchObject({
      'write.parquet.compression-codec': 'zstd',
      'write.parquet.compression-level': '1',
    });
    const audited = await auditBatch(ctx, written);
    expect(audited).toMatchObject({ verdict: 'passed', trusted: 40, untrusted: 6 });
    expect(audited.reasons).toEqual({ malformed: 1, required: 1, range: 1, timestamp: 1, type: 1, duplicate: 1 });
    // nothing is visible on main before publish
    expect((await mainRows()).trusted).toHaveLength(0);

    const outcome = await publishBatch(ctx, audited);
    expect(outcome.kind).toBe('published');
    const { trusted, untrusted } = await mainRows();
    expect(trusted).toHaveLength(40);
    expect(untrusted).toHaveLength(6);
    expect([...coordinates(trusted), ...coordinates(untrusted)].sort()).toEqual(
      Array.from({ length: 46 }, (_, i) => `0:${i}`).sort(),
    );
    const malformed = untrusted.find((r) => r[Column.offset] === 40n)!;
    expect(malformed[Column.reasons]).toEqual(['malformed: value is not valid JSON']);
    expect(Buffer.from(malformed[Column.raw] as Uint8Array).toString()).toBe('{oops');
    expect(untrusted.find((r) => r[Column.offset] === 44n)![Column.reasons]).toEqual([
      "type: field 'slot': expected string, got number 17",
    ]);
    const { tables } = await loadTables(ctx.catalog, 'main', ['staging.parking_entry', 'production.parking_entry']);
    expect([...tables.keys()]).toEqual(['production.parking_entry']);
    expect(
      tables.get('production.parking_entry')!.metadata.properties['write.parquet.compression-level'],
    ).toBeUndefined();
    expect(await ctx.catalog.client.listReferences()).toEqual([expect.objectContaining({ name: 'main' })]);

    // redelivery of every event changes nothing on main
    const again = await publishBatch(ctx, audited);
    expect(again).toMatchObject({ kind: 'published', event: { method: 'noop', duplicates: 46 } });
    expect((await mainRows()).trusted).toHaveLength(40);
  });

  it('publishes concurrent batches (rebasing on main) and filters replayed coordinates', async () => {
    const batches = [1, 2, 3, 4].map((p) => Array.from({ length: 25 }, (_, i) => entry(p, i)));
    // a replay: partition 0 offsets 30..49 — 30..45 were published by the first test, 46..49 are new
    batches.push(Array.from({ length: 20 }, (_, i) => entry(0, 30 + i)));
    const written = await Promise.all(batches.map((b) => writeBatch(ctx, 'parking-entry', b)));
    const audited = await Promise.all(written.map((w) => auditBatch(ctx, w)));
    const outcomes = await Promise.all(audited.map((a) => publishBatch(ctx, a)));
    expect(outcomes.every((o) => o.kind === 'published')).toBe(true);
    const replay = outcomes[4].event as { duplicates: number };
    expect(replay.duplicates).toBe(16);
    const { trusted, untrusted } = await mainRows();
    const all = [...coordinates(trusted), ...coordinates(untrusted)];
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(50 + 4 * 25);
    expect(await ctx.catalog.client.listReferences()).toHaveLength(1);
  });

  it('a failed batch goes to _untrusted with the batch reason and keeps its branch', async () => {
    const records = Array.from({ length: 10 }, (_, i) => entry(5, i, i < 6 ? { latitude: 99 } : {}));
    const audited = await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', records));
    expect(audited.verdict).toBe('failed');
    const outcome = await publishBatch(ctx, audited);
    expect(outcome.kind).toBe('rejected');
    const { untrusted } = await mainRows();
    const rejected = untrusted.filter((r) => r[Column.partition] === 5);
    expect(rejected).toHaveLength(10);
    expect(
      rejected.every((r) => (r[Column.reasons] as string[]).some((x) => x.startsWith('batch: untrusted ratio'))),
    ).toBe(true);
    expect((await ctx.catalog.client.listReferences()).map((r) => r.name)).toContain(audited.branch);
    // redelivered: still rejected, nothing doubled
    expect((await publishBatch(ctx, audited)).kind).toBe('rejected');
    expect((await mainRows()).untrusted.filter((r) => r[Column.partition] === 5)).toHaveLength(10);
  });

  it('auditing twice (redelivery) returns the recorded audit without a second commit', async () => {
    const written = await writeBatch(ctx, 'parking-entry', [entry(6, 0), entry(6, 1)]);
    const [a, b] = await Promise.all([auditBatch(ctx, written), auditBatch(ctx, written)]);
    expect(a.hash).toBe(b.hash);
    const c = await auditBatch(ctx, written);
    expect(c).toEqual(a);
    await publishBatch(ctx, c);
    expect((await mainRows()).trusted.filter((r) => r[Column.partition] === 6)).toHaveLength(2);
  });
});
