/**
 * Stale WAP branches with the real chain: a published batch's leftover branch is deleted, a rejected batch's branch is
 * kept for its retention and then deleted, stalled batches are re-driven by re-emitting their event (and the
 * re-emitted events really move them on), a branch the writer never committed to is deleted once old, and a dry run
 * changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { batchAuditedSchema, batchWrittenSchema, EventType, payloadOf } from '../../shared/events/contract.ts';
import { cleanWapBranches, type BranchOptions } from '../../shared/wap/branch-cleanup.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { branchName, newBatchId } from '../../shared/wap/batch-branches.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { DAY, entry, mainCoordinates, startEnv, type TestEnv } from './helpers.ts';

describe('stale WAP branches', () => {
  let env: TestEnv;
  let emitted: CloudEventMessage[];
  const run = (extra: Partial<BranchOptions> = {}) =>
    cleanWapBranches(env.catalog, {
      config: env.config,
      log: silentLogger,
      emit: async (event) => void emitted.push(event),
      ...extra,
    });
  const branches = async () =>
    (await env.catalog.client.listReferences())
      .map((r) => r.name)
      .filter((n) => n !== 'main')
      .sort();
  const minutes = (n: number) => () => Date.now() + n * 60_000;

  beforeAll(async () => {
    env = await startEnv('floe-branches');
    env.config.audit.maxUntrustedRatio = 0.5;
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('re-drives stalled batches until they are published, and deletes a published batch left behind', async () => {
    emitted = [];
    const written = await writeBatch(env.wap, 'parking-entry', [entry(0, 0), entry(0, 1)]);
    // young: the auditor may still be on it
    expect((await run()).actions).toEqual([
      expect.objectContaining({ branch: written.branch, action: 'waiting', stage: 'written' }),
    ]);
    expect(emitted).toEqual([]);

    const stalled = await run({ now: minutes(3) });
    expect(stalled).toMatchObject({ redriven: 1, deleted: 0, errors: [] });
    expect(emitted.map((e) => e.attributes.type)).toEqual([EventType.batchWritten]);
    const rewritten = payloadOf(emitted[0], batchWrittenSchema);
    expect(rewritten).toEqual(written);

    const audited = await auditBatch(env.wap, rewritten);
    emitted = [];
    await run({ now: minutes(3) });
    expect(emitted.map((e) => e.attributes.type)).toEqual([EventType.batchAudited]);
    const again = payloadOf(emitted[0], batchAuditedSchema);
    expect(again).toEqual(audited);
    expect((await publishBatch(env.wap, again)).kind).toBe('published');
    expect(await mainCoordinates(env.catalog)).toEqual(['0:0', '0:1']);
    expect(await branches()).toEqual([]);

    // a publisher that died before deleting its branch: the branch is still there, the batch is on main
    await env.catalog.client.createReference(audited.branch, 'BRANCH', { hash: audited.hash });
    emitted = [];
    const result = await run();
    expect(result.actions).toEqual([
      expect.objectContaining({
        branch: audited.branch,
        action: 'deleted',
        reason: expect.stringMatching(/published/),
      }),
    ]);
    expect(emitted).toEqual([]);
    expect(await branches()).toEqual([]);
  });

  it('keeps a rejected batch for the retention period, then deletes it', async () => {
    const records = Array.from({ length: 25 }, (_, i) => entry(1, i, i < 18 ? { latitude: 99 } : {}));
    const audited = await auditBatch(env.wap, await writeBatch(env.wap, 'parking-entry', records));
    expect(audited.verdict).toBe('failed');
    expect((await publishBatch(env.wap, audited)).kind).toBe('rejected');
    expect((await run({ now: minutes(60) })).actions).toEqual([
      expect.objectContaining({ branch: audited.branch, action: 'kept' }),
    ]);
    expect(await branches()).toEqual([audited.branch]);
    expect((await run({ now: () => Date.now() + 8 * DAY })).actions).toEqual([
      expect.objectContaining({ branch: audited.branch, action: 'deleted' }),
    ]);
    expect(await branches()).toEqual([]);
  });

  it('deletes a branch the writer never committed to once it is old', async () => {
    const main = await env.catalog.client.getReference('main');
    const old = branchName('parking_entry', newBatchId(new Date(Date.now() - 10 * 60_000)));
    const fresh = branchName('parking_entry', newBatchId());
    await env.catalog.client.createReference(old, 'BRANCH', { name: 'main', hash: main.hash });
    await env.catalog.client.createReference(fresh, 'BRANCH', { name: 'main', hash: main.hash });
    await env.catalog.client.createReference('feature/not-wap', 'BRANCH', { name: 'main', hash: main.hash });
    const result = await run();
    expect(result.actions.find((a) => a.branch === old)).toMatchObject({
      action: 'deleted',
      reason: expect.stringMatching(/never committed/),
    });
    expect(result.actions.find((a) => a.branch === fresh)).toMatchObject({ action: 'waiting' });
    expect(result.actions.some((a) => a.branch === 'feature/not-wap')).toBe(false);
    expect(await branches()).toEqual(['feature/not-wap', fresh].sort());
  });

  it('a dry run says what it would do and changes nothing', async () => {
    emitted = [];
    const written = await writeBatch(env.wap, 'parking-entry', [entry(2, 0)]);
    const before = await branches();
    const result = await run({ now: minutes(30), dryRun: true });
    expect(result.actions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ branch: written.branch, action: 'redrive' }),
        expect.objectContaining({ action: 'delete' }),
      ]),
    );
    expect(result).toMatchObject({ deleted: 0, redriven: 0 });
    expect(emitted).toEqual([]);
    expect(await branches()).toEqual(before);
  });

  it('without a sink, stalled batches are reported, not lost', async () => {
    const result = await cleanWapBranches(env.catalog, { config: env.config, log: silentLogger, now: minutes(30) });
    expect(result.actions.filter((a) => a.action === 'stalled').length).toBeGreaterThan(0);
    expect(result.errors).toEqual([]);
  });
});
