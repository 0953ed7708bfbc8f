/**
 * Concurrency at the Nessie level, over HTTP against the embedded server. A fake ICEBERG_TABLE's metadataLocation
 * carries the list of "snapshots" appended to it, so a lost update shows up as a missing token:
 * - 8 writers append to one table on one branch: read → commit with the read hash → on conflict re-read and retry;
 * - 8 WAP branches are merged into main (staging key dropped) while 4 writers keep appending to main; a merge that
 *   conflicts is rebased the way floe's publisher does it (merge with expectedTargetContent/resolvedContent, or a
 *   direct compare-and-swap commit on main).
 * At the end every token is on main exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NessieReferenceConflictError,
  NO_ANCESTOR_HASH,
  type IcebergTable,
  type NessieClient,
} from '../../shared/catalog/nessie/index.ts';
import { key, namespace, put, startEmbeddedNessie, table, type EmbeddedNessie } from './helpers.ts';

const EVENTS = key('lake', 'events');
const STAGING = (job: number) => key('lake', `staging_${job}`);

let nessie: EmbeddedNessie;
let client: NessieClient;
let tableId: string;

function tokens(content: IcebergTable): string[] {
  const list = content.metadataLocation.replace(/^mem:\/\/events\/?/, '');
  return list ? list.split(',') : [];
}

function withToken(content: IcebergTable, token: string): IcebergTable {
  const next = [...tokens(content), token];
  return table(`mem://events/${next.join(',')}`, content.snapshotId + 1n, tableId);
}

async function readEvents(ref: string): Promise<{ hash: string; content: IcebergTable }> {
  const r = await client.getContent(ref, EVENTS);
  return { hash: r.effectiveReference.hash, content: r.value as IcebergTable };
}

/** Appends `token` to the table on `branch` with optimistic concurrency; returns how many conflicts it retried. */
async function appendWithRetry(branch: string, token: string): Promise<number> {
  for (let conflicts = 0; ; conflicts++) {
    const { hash, content } = await readEvents(branch);
    try {
      await client.commit(branch, hash, { message: `append ${token}` }, [put(EVENTS, withToken(content, token))]);
      return conflicts;
    } catch (err) {
      if (!(err instanceof NessieReferenceConflictError) || err.conflicts[0]?.conflictType !== 'VALUE_DIFFERS')
        throw err;
    }
  }
}

/**
 * Puts a job's rows on top of main's current table, atomically with the check that main's table is still what was
 * read — floe's publisher rebase. Even jobs use the merge's expectedTargetContent/resolvedContent, odd ones a
 * compare-and-swap commit on main. Retries until it wins.
 */
async function rebase(job: number, branch: string, staged: string): Promise<void> {
  for (;;) {
    const fresh = await readEvents('main');
    const resolved = withToken(fresh.content, `j${job}`);
    if (job % 2 === 0) {
      const retried = await client.merge('main', fresh.hash, {
        fromRefName: branch,
        fromHash: staged,
        commitMeta: { message: `publish job ${job} (rebased)` },
        keyMergeModes: [
          { key: STAGING(job), mergeBehavior: 'DROP' },
          { key: EVENTS, mergeBehavior: 'NORMAL', expectedTargetContent: fresh.content, resolvedContent: resolved },
        ],
      });
      if (retried.wasSuccessful) return;
    } else {
      try {
        await client.commit('main', fresh.hash, { message: `publish job ${job} (rebased)` }, [put(EVENTS, resolved)]);
        return;
      } catch (err) {
        if (!(err instanceof NessieReferenceConflictError)) throw err;
      }
    }
  }
}

beforeAll(async () => {
  nessie = await startEmbeddedNessie();
  client = nessie.client;
  const r = await client.commit('main', NO_ANCESTOR_HASH, { message: 'setup' }, [
    put(key('lake'), namespace('lake')),
    put(EVENTS, table('mem://events/', 0n)),
  ]);
  tableId = r.addedContents.find((c) => c.key.elements.length === 2)!.contentId;
});
afterAll(async () => nessie?.stop());

describe('Nessie concurrency', () => {
  it('8 writers appending to the same table on one branch lose no update', async () => {
    const branch = 'writers';
    await client.createReference(branch, 'BRANCH', { name: 'main', hash: (await client.getReference('main')).hash });
    const perWriter = 12;
    const conflicts = await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        let total = 0;
        for (let i = 0; i < perWriter; i++) total += await appendWithRetry(branch, `w${w}-${i}`);
        return total;
      }),
    );
    const final = tokens((await readEvents(branch)).content);
    const expected = Array.from({ length: 8 }, (_, w) =>
      Array.from({ length: perWriter }, (_, i) => `w${w}-${i}`),
    ).flat();
    expect([...final].sort()).toEqual([...expected].sort());
    expect(new Set(final).size).toBe(final.length);
    // The writers really raced (otherwise this test proves nothing about conflicts).
    expect(conflicts.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    let commits = 0;
    for await (const entry of client.commitLog(branch)) if (entry.commitMeta.message.startsWith('append')) commits++;
    expect(commits).toBe(8 * perWriter);
  });

  it('8 WAP branches merge into main while others append to it: every row exactly once', async () => {
    // A bounded number of appends per writer: they overlap the publishes, and once they are done the publishes can
    // no longer be starved, so the test always terminates.
    const appended: string[] = [];
    const appenders = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 20; i++) {
        await appendWithRetry('main', `a${w}-${i}`);
        appended.push(`a${w}-${i}`);
      }
    });

    let rebased = 0;
    const jobs = Array.from({ length: 8 }, async (_, job) => {
      const start = await readEvents('main');
      const branch = await client.createReference(`wap/job-${job}`, 'BRANCH', { name: 'main', hash: start.hash });
      const written = await client.commit(branch.name, branch.hash, { message: `job ${job}` }, [
        put(EVENTS, withToken(start.content, `j${job}`)),
        put(STAGING(job), table(`mem://staging/${job}`, 1n)),
      ]);
      const staged = written.targetBranch.hash;
      const main = await readEvents('main');
      const result = await client.merge('main', main.hash, {
        fromRefName: branch.name,
        fromHash: staged,
        commitMeta: { message: `publish job ${job}` },
        keyMergeModes: [{ key: STAGING(job), mergeBehavior: 'DROP' }],
      });
      if (!result.wasSuccessful) {
        expect(result.details.find((d) => d.conflict)?.conflict?.conflictType).toBe('VALUE_DIFFERS');
        rebased++;
        await rebase(job, branch.name, staged);
      }
      await client.deleteReference(branch.name, 'BRANCH', staged);
    });

    await Promise.all([...jobs, ...appenders]);

    const final = tokens((await readEvents('main')).content);
    const expected = [...appended, ...Array.from({ length: 8 }, (_, job) => `j${job}`)];
    expect([...final].sort()).toEqual([...expected].sort());
    expect(new Set(final).size).toBe(final.length);
    expect(rebased).toBeGreaterThan(0);
    const entries = await client.listEntries('main', { prefixKey: key('lake') });
    expect(entries.value.map((e) => e.name.elements.join('.'))).toEqual(['lake', 'lake.events']);
    const branches = await client.listReferences({ filter: "ref.name.startsWith('wap/')" });
    expect(branches).toEqual([]);
  });
});
