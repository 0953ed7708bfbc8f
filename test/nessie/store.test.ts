/**
 * The embedded Nessie's durable store: writes queued together share one log append (group commit), a failing write
 * does not fail the others in its batch, and every acknowledged write is there after reopening.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openNessieStore, type NessieStore } from '../../local/nessie/store.ts';
import { createReference } from '../../local/nessie/writes.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openStore(dataDir?: string): Promise<{ store: NessieStore; dataDir: string }> {
  let dir = dataDir;
  if (!dir) {
    const temp = await tempDir('floe-nessie-store');
    cleanups.push(temp.cleanup);
    dir = temp.dir;
  }
  const store = await openNessieStore({ dataDir: dir, logger: silentLogger });
  return { store, dataDir: dir };
}

function createBranch(store: NessieStore, name: string) {
  return store.write((repo) => {
    const hash = repo.refs.get('main')!.hash;
    return createReference(repo, name, 'BRANCH', { type: 'BRANCH', name: 'main', hash });
  });
}

describe('Nessie store', () => {
  it('appends the writes queued in one tick with one durable write, and keeps them across a reopen', async () => {
    const { store, dataDir } = await openStore();
    const names = Array.from({ length: 20 }, (_, i) => `b${i}`);
    const created = await Promise.all(names.map((name) => createBranch(store, name)));
    expect(created.map((c) => c.reference.name)).toEqual(names);
    expect(store.stats()).toEqual({ appends: 1, records: 20 });

    await createBranch(store, 'later');
    expect(store.stats()).toEqual({ appends: 2, records: 21 });
    await store.close();

    const { store: reopened } = await openStore(dataDir);
    try {
      expect([...reopened.view().refs.keys()].sort()).toEqual(['later', 'main', ...names].sort());
    } finally {
      await reopened.close();
    }
  });

  it('rejects only the failing write of a batch; the others are appended and acknowledged', async () => {
    const { store } = await openStore();
    try {
      const results = await Promise.allSettled([
        createBranch(store, 'one'),
        createBranch(store, 'one'),
        createBranch(store, 'two'),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/already exists/);
      expect(store.stats()).toEqual({ appends: 1, records: 2 });
      expect([...store.view().refs.keys()].sort()).toEqual(['main', 'one', 'two']);
    } finally {
      await store.close();
    }
  });
});
