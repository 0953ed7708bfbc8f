/**
 * Dataset tags survive maintenance: after a tag, more ingestion, compaction, snapshot expiry (max age 0) and orphan
 * cleanup (grace 0) — each of which would otherwise drop the tagged snapshot's files — the tag still reads exactly the
 * rows it had, through the Nessie tag (`floe scan --ref`), through the table's own Iceberg tag ref, and through
 * icebird given the ref's snapshot. Deleting the tag lets the next expiry and cleanup reclaim them. And the janitor's
 * `tags` job creates scheduled tags and deletes expired ones.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { icebergMetadata, icebergRead } from 'icebird';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTag, deleteTag, TagError } from '../../shared/catalog/dataset-tags.ts';
import { NessieBadRequestError } from '../../shared/catalog/nessie/index.ts';
import { loadTable } from '../../shared/catalog/table-catalog.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { compactTable } from '../../shared/maintenance/compaction.ts';
import { runJob } from '../../shared/maintenance/maintenance-jobs.ts';
import { removeOrphanFiles } from '../../shared/maintenance/orphan-cleanup.ts';
import { renderTagName, tagNameTime } from '../../shared/maintenance/scheduled-tags.ts';
import { expireTable } from '../../shared/maintenance/snapshot-expiry.ts';
import { ConfigError, parsePipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { janitorFunction } from '../../functions/janitor/index.ts';
import { createEvent, toHttpBinary } from '../../shared/events/cloudevent.ts';
import { EventType } from '../../shared/events/contract.ts';
import { loadEnv } from '../../shared/runtime/env.ts';
import { startHost } from '../../shared/runtime/function-host.ts';
import { runFloe } from '../helpers/cli.ts';
import { withFileFetch } from '../helpers/file-fetch.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import {
  appendRows,
  byId,
  createEventsTable,
  DAY,
  eventRows,
  liveDataFiles,
  rowsAt,
  startEnv,
  type TestEnv,
} from './helpers.ts';

const TABLE = 'production.events';
const later = () => Date.now() + 60_000;
const ids = (rows: Record<string, unknown>[]) => rows.map((r) => String(r.id)).sort();

describe('a tag through compaction, expiry and orphan cleanup', () => {
  let env: TestEnv;
  let expected: Record<string, unknown>[];
  let taggedFiles: string[];

  beforeAll(async () => {
    env = await startEnv('floe-tags');
    await createEventsTable(env.catalog, TABLE);
    for (let i = 0; i < 4; i++) await appendRows(env.catalog, TABLE, eventRows(i * 50, 50));
  });
  afterAll(() => env?.stop());

  it('keeps exactly the tagged rows readable by floe, by the Iceberg ref and by icebird', async () => {
    const created = await createTag(env.catalog, { name: 'train', retentionMs: 30 * DAY, message: 'model v1' });
    expect(created.tables.map((t) => t.table)).toEqual([TABLE]);
    expected = (await rowsAt(env.catalog, 'main', TABLE)).sort(byId);
    expect(expected).toHaveLength(200);
    taggedFiles = (await liveDataFiles(env.catalog.io, (await loadTable(env.catalog, 'train', TABLE))!.metadata)).map(
      (f) => f.filePath,
    );

    await appendRows(env.catalog, TABLE, eventRows(200, 100));
    expect(
      (await compactTable(env.catalog, TABLE, { log: silentLogger, options: { 'rewrite-all': 'true' } })).outcome,
    ).toBe('committed');
    const expiry = await expireTable(env.catalog, TABLE, { log: silentLogger, maxSnapshotAgeMs: 0, now: later });
    expect(expiry.outcome).toBe('committed');
    expect(expiry.details!.removedRefs).toEqual([]);
    const orphans = await removeOrphanFiles(env.catalog, { olderThanMs: 0, now: later });
    expect(orphans.errors).toEqual([]);
    expect(orphans.deleted).toBeGreaterThan(0);

    const main = (await loadTable(env.catalog, 'main', TABLE))!;
    // Compaction replaced every file the tag holds: only the tag keeps them.
    const mainFiles = new Set((await liveDataFiles(env.catalog.io, main.metadata)).map((f) => f.filePath));
    expect(taggedFiles.some((f) => mainFiles.has(f))).toBe(false);
    for (const file of taggedFiles) expect(existsSync(fileURLToPath(file)), file).toBe(true);
    expect(main.metadata.refs.train).toMatchObject({
      type: 'tag',
      snapshotId: created.tables[0].snapshotId,
      maxRefAgeMs: 30 * DAY,
    });
    expect(main.metadata.snapshots.map((s) => s.snapshotId)).toContain(created.tables[0].snapshotId);

    // Through the Nessie tag, and through main's metadata by the Iceberg ref (as `VERSION AS OF 'train'` would).
    expect((await rowsAt(env.catalog, 'train', TABLE)).sort(byId)).toEqual(expected);
    expect((await scanRows(main.metadata, { io: env.catalog.io, ref: 'train' })).sort(byId)).toEqual(expected);
    expect(await scanRows(main.metadata, { io: env.catalog.io })).toHaveLength(300);

    // icebird reads main's current metadata file, pointed at the tag's snapshot id from its refs.
    const tableUrl = main.metadata.location;
    const metadataFileName = main.metadataLocation.slice(main.metadataLocation.lastIndexOf('/') + 1);
    const theirs = await withFileFetch(async () => {
      const metadata = await icebergMetadata({ tableUrl, metadataFileName });
      const refs = (metadata as unknown as { refs: Record<string, { 'snapshot-id': number }> }).refs;
      return icebergRead({ tableUrl, metadata: { ...metadata, 'current-snapshot-id': refs.train['snapshot-id'] } });
    });
    expect(ids(theirs)).toEqual(ids(expected));
  });

  it('floe scan --ref TAG returns the rows at tag time', async () => {
    const env2 = { NESSIE_URI: env.catalog.client.uri, FLOE_WAREHOUSE: env.catalog.warehouse, FLOE_HOME: env.dir };
    const result = await runFloe(['scan', TABLE, '--ref', 'train', '--json', '--columns', 'id'], { env: env2 });
    expect(result.code, result.stderr).toBe(0);
    expect(
      result.stdout
        .trim()
        .split('\n')
        .map((line) => String(parseJson<{ id: bigint }>(line).id))
        .sort(),
    ).toEqual(ids(expected));
  });

  it('once the tag is deleted, expiry and cleanup reclaim what only it kept', async () => {
    await deleteTag(env.catalog, 'train');
    expect((await loadTable(env.catalog, 'main', TABLE))!.metadata.refs.train).toBeUndefined();
    expect(
      (await expireTable(env.catalog, TABLE, { log: silentLogger, maxSnapshotAgeMs: 0, now: later })).outcome,
    ).toBe('committed');
    await removeOrphanFiles(env.catalog, { olderThanMs: 0, now: later });
    for (const file of taggedFiles) expect(existsSync(fileURLToPath(file)), file).toBe(false);
    expect(await rowsAt(env.catalog, 'main', TABLE)).toHaveLength(300);
  });
});

describe('scheduled tags', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startEnv('floe-tag-schedules');
    await createEventsTable(env.catalog, TABLE);
    await appendRows(env.catalog, TABLE, eventRows(0, 20));
  });
  afterAll(() => env?.stop());

  it('validates tag schedules in the pipeline config', () => {
    const config = parsePipelineConfig({ tags: [{ name: 'daily-{date}', schedule: '0 0 * * *', retention: '30d' }] });
    expect(config.tags).toEqual([{ name: 'daily-{date}', schedule: '0 0 * * *', retention: 30 * DAY, ref: 'main' }]);
    expect(parsePipelineConfig({}).tags).toEqual([]);
    for (const [tags, message] of [
      [[{ name: 'daily', schedule: '0 0 * * *' }], /tags\.0\.name: must contain \{date\} or \{time\}/],
      [[{ name: 'daily-{date}', schedule: 'every day' }], /tags\.0\.schedule: must be a 5-field cron/],
      [[{ name: '-{date}', schedule: '0 0 * * *' }], /tags\.0\.name: must render to a Nessie tag name/],
      [[{ name: 'd-{date}', schedule: '0 0 * * *', retention: 'long' }], /tags\.0\.retention: not a duration/],
      [[{ name: 'd-{date}', schedule: '0 0 * * *', keep: 3 }], /tags\.0: Unrecognized key/],
      [
        [
          { name: 'd-{date}', schedule: '0 0 * * *' },
          { name: 'd-{date}', schedule: '0 1 * * *' },
        ],
        /same name template/,
      ],
    ] as const) {
      expect(() => parsePipelineConfig({ tags })).toThrow(ConfigError);
      expect(() => parsePipelineConfig({ tags })).toThrow(message);
    }
  });

  it('names tags by their scheduled time and reads the time back', () => {
    const at = new Date(Date.UTC(2026, 11, 3, 7, 5));
    expect(renderTagName('daily-{date}', at)).toBe('daily-2026-12-03');
    expect(renderTagName('h/{date}.{time}', at)).toBe('h/2026-12-03.0705');
    expect(tagNameTime('h/{date}.{time}', 'h/2026-12-03.0705')).toBe(at.getTime());
    expect(tagNameTime('daily-{date}', 'daily-2026-12-03')).toBe(Date.UTC(2026, 11, 3));
    expect(tagNameTime('daily-{date}', 'daily-2026-13-03')).toBeUndefined();
    expect(tagNameTime('daily-{date}', 'train')).toBeUndefined();
  });

  it('takes the Iceberg refs back when Nessie refuses the tag after they were committed', async () => {
    // A Nessie with stricter name rules than floe's check cannot be provoked with the embedded server: the refusal is
    // injected at the client, after the refs commit went through the real catalog.
    const refusing = {
      ...env.catalog,
      client: {
        ...env.catalog.client,
        createReference: async () => {
          throw new NessieBadRequestError('name not allowed here');
        },
      },
    };
    const error = await createTag(refusing, { name: 'refused' }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TagError);
    expect((error as TagError).message).toMatch(/Nessie rejected the tag name 'refused': name not allowed here/);
    expect((await loadTable(env.catalog, 'main', TABLE))!.metadata.refs.refused).toBeUndefined();
    expect((await env.catalog.client.listReferences()).map((r) => r.name)).not.toContain('refused');
  });

  it('the tags job creates the due tag once and deletes the expired ones with their Iceberg refs', async () => {
    const config = parsePipelineConfig({ tags: [{ name: 'daily-{date}', schedule: '0 0 * * *', retention: '3d' }] });
    const ctx = (iso: string) => ({
      catalog: env.catalog,
      config,
      log: silentLogger,
      settings: { orphanGraceMs: DAY, rejectedRetentionMs: DAY, stallAfterMs: 60_000, snapshotMaxAgeMs: 3_600_000 },
      now: () => Date.parse(iso),
    });
    const tags = async () =>
      (await env.catalog.client.listReferences())
        .filter((r) => r.type === 'TAG')
        .map((r) => r.name)
        .sort();
    await createTag(env.catalog, { name: 'by-hand' });

    const first = await runJob(ctx('2026-12-03T00:04:00Z'), { job: 'tags' });
    expect(first.report.errors).toEqual([]);
    expect(first.tags!.actions).toEqual([
      expect.objectContaining({ tag: 'daily-2026-12-03', action: 'created', tables: 1 }),
    ]);
    expect((await loadTable(env.catalog, 'main', TABLE))!.metadata.refs['daily-2026-12-03']).toMatchObject({
      type: 'tag',
      maxRefAgeMs: 3 * DAY,
    });
    expect((await runJob(ctx('2026-12-03T00:09:00Z'), { job: 'tags' })).tags!.actions).toEqual([]);

    await appendRows(env.catalog, TABLE, eventRows(20, 5));
    await runJob(ctx('2026-12-04T00:01:00Z'), { job: 'tags' });
    expect(await tags()).toEqual(['by-hand', 'daily-2026-12-03', 'daily-2026-12-04']);
    expect(await rowsAt(env.catalog, 'daily-2026-12-03', TABLE)).toHaveLength(20);
    expect(await rowsAt(env.catalog, 'daily-2026-12-04', TABLE)).toHaveLength(25);

    const dry = await runJob(ctx('2026-12-06T00:02:00Z'), { job: 'tags', dryRun: true });
    expect(dry.tags!.actions.map((a) => `${a.action} ${a.tag}`)).toEqual([
      'would create daily-2026-12-06',
      'would delete daily-2026-12-03',
    ]);
    expect(await tags()).toEqual(['by-hand', 'daily-2026-12-03', 'daily-2026-12-04']);

    const run = await runJob(ctx('2026-12-06T00:02:00Z'), { job: 'tags' });
    expect(run.report.errors).toEqual([]);
    expect(run.tags!.actions.map((a) => `${a.action} ${a.tag}`)).toEqual([
      'created daily-2026-12-06',
      'deleted daily-2026-12-03',
    ]);
    expect(await tags()).toEqual(['by-hand', 'daily-2026-12-04', 'daily-2026-12-06']);
    const refs = (await loadTable(env.catalog, 'main', TABLE))!.metadata.refs;
    expect(Object.keys(refs).sort()).toEqual(['by-hand', 'daily-2026-12-04', 'daily-2026-12-06', 'main']);
    expect(run.reportLocation).toMatch(/_floe\/maintenance\/.*tags/);
  });
});

describe('the janitor on a tags tick', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startEnv('floe-tag-janitor');
    await createEventsTable(env.catalog, TABLE);
    await appendRows(env.catalog, TABLE, eventRows(0, 7));
  });
  afterAll(() => env?.stop());

  it('creates the tag its schedule made due', async () => {
    const floeEnv = loadEnv({
      FLOE_WAREHOUSE: env.catalog.warehouse,
      NESSIE_URI: env.catalog.client.uri,
      FLOE_CONFIG: 'knative/config/pipeline.yaml',
    });
    const pipeline = parsePipelineConfig({
      tags: [{ name: 'minutely-{date}-{time}', schedule: '* * * * *', retention: '1h' }],
    });
    const runtime = { env: { ...floeEnv, pipeline }, log: silentLogger, io: env.catalog.io, catalog: env.catalog };
    const host = await startHost({
      fn: janitorFunction(runtime, {
        orphanGraceMs: DAY,
        rejectedRetentionMs: DAY,
        stallAfterMs: 60_000,
        snapshotMaxAgeMs: 3_600_000,
      }),
      logger: silentLogger,
      port: 0,
      host: '127.0.0.1',
    });
    try {
      const before = Date.now();
      const { headers, body } = toHttpBinary(
        createEvent({
          type: EventType.ping,
          source: '/apis/v1/namespaces/floe/pingsources/tags',
          extensions: { floejob: 'tags' },
          data: { job: 'tags' },
        }),
      );
      const response = await fetch(host.url, { method: 'POST', headers, body });
      expect(response.status, await response.text()).toBe(204);
      const tags = (await env.catalog.client.listReferences()).filter((r) => r.type === 'TAG').map((r) => r.name);
      // The tick may straddle a minute boundary.
      const candidates = [before, Date.now()].map((t) => renderTagName('minutely-{date}-{time}', new Date(t)));
      expect(tags).toHaveLength(1);
      expect(candidates).toContain(tags[0]);
      expect(await rowsAt(env.catalog, tags[0], TABLE)).toHaveLength(7);
    } finally {
      await host.close();
    }
  });
});
