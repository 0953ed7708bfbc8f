/**
 * The embedded catalog opened read-only (what `floe tables` & co. do when the local stack is not running): it serves
 * the directory's state, refuses every write with a clear 403, writes nothing to the directory — not even when the
 * log ends in a half-written record or another live process holds the lock — and needs a repository to be there.
 */
import { createHash } from 'node:crypto';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNessieClient, NessieError, NO_ANCESTOR_HASH } from '../../shared/catalog/nessie/index.ts';
import { inspectNessieDirectory, startNessieServer } from '../../local/nessie/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { key, namespace, put, table } from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every file of the directory and its sha256. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort())
    files[name] = createHash('sha256')
      .update(await readFile(path.join(dir, name)))
      .digest('hex');
  return files;
}

/** A directory with a namespace and two tables committed on main, the server stopped. */
async function populated(): Promise<{ dir: string; head: string }> {
  const tmp = await tempDir('floe-nessie-ro');
  cleanups.push(tmp.cleanup);
  const server = await startNessieServer({ dataDir: tmp.dir, logger: silentLogger });
  const client = createNessieClient({ uri: server.uri, retries: 0 });
  let head = (await client.commit('main', NO_ANCESTOR_HASH, { message: 'ns' }, [put(key('ns'), namespace('ns'))]))
    .targetBranch.hash;
  head = (await client.commit('main', head, { message: 't1' }, [put(key('ns', 't1'), table('s3://t/1', 1n))]))
    .targetBranch.hash;
  head = (await client.commit('main', head, { message: 't2' }, [put(key('ns', 't2'), table('s3://t/2', 2n))]))
    .targetBranch.hash;
  await server.stop();
  return { dir: tmp.dir, head };
}

async function openReadOnly(dir: string) {
  const server = await startNessieServer({ dataDir: dir, readOnly: true, logger: silentLogger });
  cleanups.push(() => server.stop());
  return { server, client: createNessieClient({ uri: server.uri, retries: 0 }) };
}

describe('the embedded catalog opened read-only', () => {
  it('serves the state on disk, refuses writes with 403 FORBIDDEN, and leaves every file as it was', async () => {
    const { dir, head } = await populated();
    const before = await fingerprint(dir);
    expect(Object.keys(before)).not.toContain('lock');
    const { server, client } = await openReadOnly(dir);
    expect((await client.getReference('main')).hash).toBe(head);
    const entries = await client.listEntries('main');
    expect(entries.value.map((e) => e.name.elements.join('.')).sort()).toEqual(['ns', 'ns.t1', 'ns.t2']);

    const refused = await client
      .commit('main', head, { message: 'no' }, [put(key('ns', 't3'), table('s3://t/3', 3n))])
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(NessieError);
    expect(refused).toMatchObject({ status: 403, errorCode: 'FORBIDDEN' });
    expect((refused as Error).message).toContain('is open read-only');
    await expect(client.createReference('b', 'BRANCH', { name: 'main', hash: head })).rejects.toMatchObject({
      status: 403,
    });
    await expect(client.deleteReference('main', 'BRANCH', head)).rejects.toMatchObject({ status: 403 });
    // no lock file was written while it was open
    expect(await fingerprint(dir)).toEqual(before);
    await server.stop();
    expect(await fingerprint(dir)).toEqual(before);
  });

  it('reads up to a torn tail without cutting it off, and reads while a live process holds the lock', async () => {
    const { dir, head } = await populated();
    const [wal] = (await readdir(dir)).filter((n) => /^wal-\d+\.log$/.test(n));
    // A record whose length promises more bytes than follow: what a reader sees while the owner is mid-append.
    await appendFile(path.join(dir, wal), Buffer.from([0xff, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0x7b, 0x22]));
    // The lock names a live process other than this one (the test runner's parent).
    await writeFile(path.join(dir, 'lock'), `${process.ppid}\n`);
    expect(await inspectNessieDirectory(dir)).toEqual({ repository: true, owner: process.ppid });
    const before = await fingerprint(dir);

    const { server, client } = await openReadOnly(dir);
    expect((await client.getReference('main')).hash).toBe(head);
    await server.stop();
    expect(await fingerprint(dir)).toEqual(before);

    // Opening it for writing is what the lock forbids.
    await expect(startNessieServer({ dataDir: dir, logger: silentLogger })).rejects.toThrow(
      `is in use by process ${process.ppid}`,
    );
    expect(await fingerprint(dir)).toEqual(before);
  });

  it('needs a repository: an empty or missing directory is an error, and nothing is created', async () => {
    const tmp = await tempDir('floe-nessie-ro-empty');
    cleanups.push(tmp.cleanup);
    const missing = path.join(tmp.dir, 'nessie');
    expect(await inspectNessieDirectory(missing)).toEqual({ repository: false });
    await expect(startNessieServer({ dataDir: missing, readOnly: true, logger: silentLogger })).rejects.toThrow(
      `${missing} holds no Nessie repository`,
    );
    expect(await readdir(tmp.dir)).toEqual([]);
  });
});
