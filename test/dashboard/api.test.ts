/**
 * The dashboard's JSON API against a lakehouse populated by the real WAP functions (see lakehouse.ts): every view's
 * numbers, the table browser on main and on a WAP branch, claim-check blobs, and clear 4xx errors for bad input.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type RunningDashboard } from '../../dashboard/server.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { EXPECTED, populateLakehouse, TRUSTED, UNTRUSTED, type Lakehouse } from './lakehouse.ts';

let lake: Lakehouse;
let dashboard: RunningDashboard;
let closedPort: number;

/** A port nothing listens on: bound once, then released. */
async function freeClosedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  lake = await populateLakehouse();
  closedPort = await freeClosedPort();
  dashboard = await startDashboard({
    catalog: lake.stack.catalog,
    io: lake.stack.catalog.io,
    warehouse: lake.stack.env.warehouse,
    config: lake.stack.env.pipeline,
    functions: { deadletter: lake.deadletterHost.url, tagger: `http://127.0.0.1:${closedPort}` },
    logger: silentLogger,
  });
});

afterAll(async () => {
  await dashboard?.stop();
  await lake?.stop();
});

async function get(path: string): Promise<{ status: number; body: any; type: string | null }> {
  const response = await fetch(new URL(path, dashboard.url));
  const text = await response.text();
  return {
    status: response.status,
    body: response.headers.get('content-type')?.startsWith('application/json') ? parseJson(text) : text,
    type: response.headers.get('content-type'),
  };
}

describe('tables', () => {
  it('lists the tables on main with rows, files and the last publish from metadata', async () => {
    const { status, body } = await get('/api/tables');
    expect(status).toBe(200);
    expect(body.tables.map((t: any) => t.name)).toEqual([TRUSTED, UNTRUSTED]);
    const [trusted, untrusted] = body.tables;
    expect(trusted).toMatchObject({
      kind: 'trusted',
      sibling: UNTRUSTED,
      rows: 52,
      files: EXPECTED.trustedFiles,
      snapshots: 2,
    });
    expect(untrusted).toMatchObject({ kind: 'untrusted', sibling: TRUSTED, rows: 23 });
    expect(trusted.lastPublish.batchId).toBe(lake.published[1].batchId);
    // snapshot ids are 64-bit: exact, as bare JSON numbers parsed to bigint
    expect(typeof trusted.currentSnapshotId).toBe('bigint');
  });

  it('shows one table: rows over time, file sizes, trusted vs untrusted and the top reasons', async () => {
    const { status, body } = await get(`/api/tables/${TRUSTED}`);
    expect(status).toBe(200);
    expect(body.history.map((p: any) => p.totalRecords)).toEqual(EXPECTED.trustedHistory);
    expect(body.history.map((p: any) => p.batchId)).toEqual(lake.published.map((b) => b.batchId));
    expect(body.quality.trusted.history.map((p: any) => p.totalRecords)).toEqual(EXPECTED.trustedHistory);
    expect(body.quality.untrusted.history.map((p: any) => p.totalRecords)).toEqual(EXPECTED.untrustedHistory);
    expect(body.quality.untrusted.reasons).toEqual(EXPECTED.reasons);
    expect(body.quality.untrusted.messages[0]).toEqual({
      reason: expect.stringMatching(/^batch: untrusted ratio/),
      count: 20,
    });
    const files = body.fileStats;
    expect(files.dataFiles).toBe(EXPECTED.trustedFiles);
    expect(files.histogram.reduce((n: number, b: any) => n + b.count, 0)).toBe(EXPECTED.trustedFiles);
    expect(files.smallFiles).toBe(EXPECTED.trustedFiles);
    expect(files.bytes).toBe(body.bytes);
    expect(body.partitionSpec).toEqual([{ name: 'timestamp_day', transform: 'day', source: 'timestamp' }]);
    expect(body.schema.find((f: any) => f.name === 'image').type).toMatch(/^struct<uri: string, size_bytes: long/);
  });

  it('reads the same table on a WAP branch, and a table that exists only there', async () => {
    const branch = encodeURIComponent(lake.pending.branch);
    const onBranch = await get(`/api/tables/${TRUSTED}?ref=${branch}`);
    expect(onBranch.status).toBe(200);
    expect(onBranch.body.rows).toBe(52 + EXPECTED.pendingRows);
    const staging = await get(`/api/tables/staging.parking_entry?ref=${branch}`);
    expect(staging.status).toBe(200);
    expect(staging.body).toMatchObject({
      rows: EXPECTED.pendingRows,
      kind: 'other',
      quality: { trusted: null, untrusted: null },
    });
    expect((await get('/api/tables/staging.parking_entry')).status).toBe(404);
  });
});

describe('table browser', () => {
  it('returns the newest rows first, shown as JSON-friendly values', async () => {
    const { status, body } = await get(`/api/tables/${TRUSTED}/rows?limit=5`);
    expect(status).toBe(200);
    expect(body.rows).toHaveLength(5);
    expect(body.more).toBe(true);
    // batch B was published last; within it, later offsets first
    expect(body.rows.map((r: any) => [r._kafka_partition, Number(r._offset)])).toEqual([
      [1, 24],
      [1, 23],
      [1, 22],
      [1, 21],
      [1, 20],
    ]);
    expect(body.rows[0]._ingested_at).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(body.fileColumns).toEqual(['image']);
  });

  it('filters with the floe scan syntax and returns the claim-check references', async () => {
    const where = encodeURIComponent('_kafka_partition = 0 and _offset < 3');
    const { status, body } = await get(`/api/tables/${TRUSTED}/rows?where=${where}&limit=50`);
    expect(status).toBe(200);
    expect(body.rows).toHaveLength(EXPECTED.imageRows);
    expect(body.more).toBe(false);
    for (const row of body.rows)
      expect(row.image).toMatchObject({
        uri: lake.image.ref.uri,
        content_type: 'image/png',
        sha256: lake.image.ref.sha256,
      });
  });

  it('serves a claim-check blob, and nothing outside the blob prefix', async () => {
    const ok = await fetch(new URL(`/api/blob?uri=${encodeURIComponent(lake.image.ref.uri)}`, dashboard.url));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await ok.arrayBuffer()).equals(lake.image.bytes)).toBe(true);

    const warehouse = lake.stack.env.warehouse;
    const blobs = `${warehouse}${lake.stack.env.pipeline.claimCheck.prefix}`;
    const refused = [
      `${warehouse}deadletter/x.json`,
      `${blobs}../deadletter/x.json`,
      `${blobs}parking_entry/%2e%2e/x`,
      'file:///etc/passwd',
    ];
    for (const uri of refused) {
      const { status, body } = await get(`/api/blob?uri=${encodeURIComponent(uri)}`);
      expect(status, uri).toBe(400);
      expect(body.error).toMatch(/claim-check blob|not allowed/);
    }
    const missing = await get(`/api/blob?uri=${encodeURIComponent(`${blobs}parking_entry/00/${'0'.repeat(64)}`)}`);
    expect(missing.status).toBe(404);
    expect((await get('/api/blob')).body.error).toBe('uri is required');
  });
});

describe('pipeline', () => {
  it('shows WAP branches by stage, recent publishes and the publish latency', async () => {
    const { status, body } = await get('/api/branches');
    expect(status).toBe(200);
    expect(body.stages).toEqual({ writing: 0, written: 0, audited: 1, rejected: 1, published: 2 });
    const byBatch = new Map(body.branches.map((b: any) => [b.batchId, b]));
    expect(byBatch.get(lake.pending.batchId)).toMatchObject({
      stage: 'audited',
      verdict: 'passed',
      trusted: EXPECTED.pendingRows,
      branch: lake.pending.branch,
    });
    expect(byBatch.get(lake.rejected.batchId)).toMatchObject({
      stage: 'rejected',
      verdict: 'failed',
      untrusted: 20,
      reason: expect.stringMatching(/^batch: untrusted ratio/),
    });
    expect(body.recent.map((r: any) => [r.batchId, r.outcome])).toEqual([
      [lake.rejected.batchId, 'rejected'],
      [lake.published[1].batchId, 'published'],
      [lake.published[0].batchId, 'published'],
    ]);
    expect(body.latency.count).toBe(2);
    expect(body.latency.p50).toBeGreaterThanOrEqual(0);
    expect(body.latency.max).toBeGreaterThanOrEqual(body.latency.p50);
    expect(body.references.map((r: any) => r.name)).toContain('main');
  });

  it('reads events in and out per function from /metrics, and reports a function that does not answer', async () => {
    const { body } = await get('/api/functions');
    const [deadletter, tagger] = body.functions;
    expect(deadletter).toMatchObject({
      name: 'deadletter',
      up: true,
      totals: { received: 1, emitted: 0, errors: 0 },
      received: { 'dev.floe.record.tagged': 1 },
    });
    expect(deadletter.counters).toContainEqual({
      name: 'floe_deadletter_events_total',
      labels: { destination: 'http://writer.floe.svc.cluster.local' },
      value: 1,
    });
    expect(tagger).toMatchObject({ name: 'tagger', up: false, error: 'ECONNREFUSED' });
  });

  it('lists dead-lettered events with where they failed', async () => {
    const { body } = await get('/api/deadletters');
    expect(body.total).toBe(1);
    expect(body.recent[0]).toMatchObject({
      id: 'parking-entry/0/99',
      type: 'dev.floe.record.tagged',
      destination: 'http://writer.floe.svc.cluster.local',
      code: '500',
      error: null,
    });
    expect(body.byDay).toEqual([{ day: body.recent[0].storedAt.slice(0, 10), count: 1 }]);
  });

  it('summarizes maintenance runs and lists an unreadable report instead of failing', async () => {
    const { body } = await get('/api/maintenance');
    expect(body.total).toBe(2);
    expect(body.runs).toHaveLength(1);
    expect(body.runs[0]).toMatchObject({
      job: 'compact',
      filesBefore: 4,
      filesAfter: 1,
      deleted: 3,
      durationMs: 1234,
      dryRun: false,
      tables: [{ table: TRUSTED, outcome: 'committed' }],
    });
    expect(body.lastByJob.compact.job).toBe('compact');
    expect(body.reclaimed).toEqual({ bytes: 0, files: 3, deleted: 3 });
    expect(body.unreadable).toEqual([
      { location: expect.stringMatching(/-orphans\.json$/), error: expect.any(String) },
    ]);
  });

  it('puts it together in the overview', async () => {
    const { body } = await get('/api/overview');
    expect(body.tables).toMatchObject({ count: 2, trustedRows: 52, untrustedRows: 23 });
    expect(body.pipeline).toMatchObject({ openBranches: 1, stages: { audited: 1, rejected: 1, published: 2 } });
    expect(body.deadletters.total).toBe(1);
    expect(body.maintenance.last.job).toBe('compact');
  });
});

describe('bad input', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['/api/tables/production.nope', 404, /table 'production.nope' does not exist on main/],
    [`/api/tables/${TRUSTED}?ref=nope`, 404, /nope/],
    [`/api/tables/${TRUSTED}?ref=${encodeURIComponent('bad ref!')}`, 400, /malformed ref/],
    ['/api/tables/notqualified', 400, /malformed table name/],
    [`/api/tables/${TRUSTED}/rows?limit=abc`, 400, /limit must be an integer from 1 to 500/],
    [`/api/tables/${TRUSTED}/rows?limit=0`, 400, /limit must be/],
    [`/api/tables/${TRUSTED}/rows?where=${encodeURIComponent('slot = ')}`, 400, /^where: /],
    [`/api/tables/${TRUSTED}/rows?where=${encodeURIComponent('nosuch = 1')}`, 400, /where: unknown column 'nosuch'/],
    [`/api/tables/${TRUSTED}?limit=5`, 400, /unknown query parameter 'limit'/],
    ['/api/tables?ref=main&ref=dev', 400, /unknown query parameter 'ref'/],
    [`/api/tables/${TRUSTED}?ref=main&ref=main`, 400, /more than once/],
    ['/api/nothing', 404, /no such endpoint/],
  ];
  it.each(cases)('%s → %i with a clear error', async (path, status, message) => {
    const response = await get(path);
    expect(response.status).toBe(status);
    expect(response.type).toMatch(/^application\/json/);
    expect(response.body.error).toMatch(message);
  });

  it('is read-only', async () => {
    const response = await fetch(new URL('/api/tables', dashboard.url), { method: 'POST', body: '{}' });
    expect(response.status).toBe(405);
    expect(((await response.json()) as { error: string }).error).toMatch(/read-only/);
  });
});

describe('the page and its assets', () => {
  it('serves the page, its script and the chart library from node_modules, and health endpoints', async () => {
    const page = await fetch(dashboard.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<canvas id="chart-rows">');
    const chart = await fetch(new URL('/vendor/chart.umd.min.js', dashboard.url));
    expect(chart.status).toBe(200);
    expect(await chart.text()).toMatch(/Chart\.js v4/);
    for (const path of ['/healthz', '/health/readiness', '/health/liveness'])
      expect((await fetch(new URL(path, dashboard.url))).status).toBe(200);
    expect((await fetch(new URL('/../../etc/passwd', dashboard.url))).status).toBe(404);
  });
});

describe('after a publish', () => {
  it('shows the new state once the short cache expires', async () => {
    await publishBatch(lake.ctx, lake.pending);
    await expect
      .poll(async () => (await get('/api/branches')).body.stages, { timeout: 10_000, interval: 250 })
      .toEqual({ writing: 0, written: 0, audited: 0, rejected: 1, published: 3 });
    const tables = (await get('/api/tables')).body.tables;
    expect(tables[0].rows).toBe(52 + EXPECTED.pendingRows);
  });
});

describe('a table whose metadata is gone', () => {
  it('is listed with the reason, and its detail is an error, while the rest keeps working', async () => {
    const main = await lake.stack.catalog.client.getReference('main');
    await lake.stack.catalog.client.commit(
      'main',
      main.hash,
      { message: 'a table pointing at a deleted metadata file' },
      [
        {
          type: 'PUT',
          key: { elements: ['production', 'broken'] },
          content: {
            type: 'ICEBERG_TABLE',
            metadataLocation: `${lake.stack.env.warehouse}gone/v1.metadata.json`,
            snapshotId: -1n,
            schemaId: 0,
            specId: 0,
            sortOrderId: 0,
          },
        },
      ],
    );
    await expect
      .poll(async () => (await get('/api/tables')).body.tables.map((t: any) => t.name), {
        timeout: 10_000,
        interval: 250,
      })
      .toContain('production.broken');
    const { status, body } = await get('/api/tables');
    expect(status).toBe(200);
    expect(body.tables.find((t: any) => t.name === 'production.broken')).toMatchObject({
      rows: null,
      error: expect.stringMatching(/not found/),
    });
    expect(body.tables.find((t: any) => t.name === TRUSTED).rows).toBe(52 + EXPECTED.pendingRows);
    const detail = await get('/api/tables/production.broken');
    expect(detail.status).toBe(500);
    expect(detail.body.error).toMatch(/object not found/);
  });
});
