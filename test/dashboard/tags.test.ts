/** The dashboard's tag endpoints: every tag with its time and rows per table, one tag in full, 404 for a missing one. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type RunningDashboard } from '../../dashboard/server.ts';
import { createTag } from '../../shared/catalog/dataset-tags.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let dashboard: RunningDashboard;

function record(offset: number): TaggedRecord {
  return {
    topic: 'parking-entry',
    partition: 1,
    offset: String(offset),
    key: null,
    kafkaTime: null,
    ingestedAt: new Date().toISOString(),
    source: '/s',
    sourceId: `partition:1/offset:${offset}`,
    table: 'parking_entry',
    headers: {},
    status: 'ok',
    payload: {
      event_id: `e${offset}`,
      timestamp: new Date().toISOString(),
      car_id: `B-${offset}`,
      slot: 'A-001',
      latitude: 52.5205,
      longitude: 13.405,
    },
  };
}

beforeAll(async () => {
  stack = await startTestStack();
  const ctx: WapContext = { catalog: stack.catalog, config: stack.env.pipeline, log: silentLogger };
  await publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', [10, 11, 12].map(record))));
  await createTag(stack.catalog, { name: 'release/2026-12', message: 'first cut', retentionMs: 86_400_000 });
  await publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', [13].map(record))));
  dashboard = await startDashboard({
    catalog: stack.catalog,
    io: stack.catalog.io,
    warehouse: stack.env.warehouse,
    config: stack.env.pipeline,
    functions: {},
    logger: silentLogger,
  });
});

afterAll(async () => {
  await dashboard?.stop();
  await stack?.stop();
});

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(new URL(path, dashboard.url));
  return { status: response.status, body: parseJson(await response.text()) };
}

describe('dashboard tags', () => {
  it('lists every tag with its time and rows per production table', async () => {
    const { status, body } = await get('/api/tags');
    expect(status).toBe(200);
    expect(body.tags).toEqual([
      expect.objectContaining({
        name: 'release/2026-12',
        message: 'first cut',
        branch: 'main',
        retentionMs: 86_400_000,
        tables: [
          expect.objectContaining({
            table: 'production.parking_entry',
            rows: 3,
            icebergRef: true,
            maxRefAgeMs: 86_400_000,
          }),
        ],
      }),
    ]);
    expect(Date.parse(body.tags[0].createdAt)).not.toBeNaN();
  });

  it('shows one tag with its batches and offsets, and answers 404 for a missing one', async () => {
    const { status, body } = await get(`/api/tags/${encodeURIComponent('release/2026-12')}`);
    expect(status).toBe(200);
    expect(body.tables[0]).toMatchObject({
      rows: 3,
      offsets: { 'parking-entry': { 1: [['10', '12']] } },
      batchesComplete: true,
    });
    expect(body.tables[0].batches).toHaveLength(1);
    const missing = await get('/api/tags/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toContain("no tag 'nope'");
  });
});
