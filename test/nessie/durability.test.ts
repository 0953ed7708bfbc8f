/**
 * Durability of the embedded server: every acknowledged commit survives kill -9 (the server runs as a child process,
 * the real `floe nessie` command), a torn log tail is dropped, mid-log damage refuses to start, compaction keeps
 * everything reachable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createNessieClient, NO_ANCESTOR_HASH, type NessieClient } from '../../shared/catalog/nessie/index.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { key, namespace, put, table } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Child {
  process: ChildProcess;
  client: NessieClient;
  exited: Promise<number | null>;
}

/** Starts `floe nessie` on a free port and waits until it prints its URI (it prints it once it listens). */
async function startChild(dataDir: string): Promise<Child> {
  const child = spawn(process.execPath, [path.join(root, 'cli/floe.js'), 'nessie', '--port', '0', '--data', dataDir], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLOE_LOG_LEVEL: 'warn', FLOE_LOG_FORMAT: 'json' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const uri = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('http://')) resolve(line.trim());
    });
    void exited.then((code) => reject(new Error(`floe nessie exited with ${code}: ${stderr}`)));
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { process: child, client: createNessieClient({ uri, retries: 0 }), exited };
}

async function killHard(child: Child): Promise<void> {
  child.process.kill('SIGKILL');
  await child.exited;
}

describe('Nessie durability', () => {
  it('keeps every acknowledged commit across kill -9 and restart, including commits in flight at the kill', async () => {
    const { dir, cleanup } = await tempDir('floe-nessie-kill');
    cleanups.push(cleanup);
    const first = await startChild(dir);
    const setup = await first.client.commit('main', NO_ANCESTOR_HASH, { message: 'ns' }, [
      put(key('ns'), namespace('ns')),
    ]);
    const base = setup.targetBranch.hash;

    // Sequential commits, each acknowledged before the next.
    const acknowledged = new Map<string, string>(); // key name -> commit hash
    let head = base;
    for (let i = 0; i < 20; i++) {
      const r = await first.client.commit('main', head, { message: `seq ${i}` }, [
        put(key('ns', `s${i}`), table(`s3://s/${i}`, BigInt(i))),
      ]);
      head = r.targetBranch.hash;
      acknowledged.set(`s${i}`, head);
    }
    // A burst of concurrent commits (different keys, same stale expected hash: no conflicts); kill while in flight.
    let burstAcks = 0;
    const failures: unknown[] = [];
    let tenAcked!: () => void;
    const tenAckedPromise = new Promise<void>((resolve) => (tenAcked = resolve));
    const inFlight = Array.from({ length: 60 }, (_, i) =>
      first.client
        .commit('main', base, { message: `burst ${i}` }, [put(key('ns', `b${i}`), table(`s3://b/${i}`, BigInt(i)))])
        .then(
          (r) => {
            acknowledged.set(`b${i}`, r.targetBranch.hash);
            if (++burstAcks === 10) tenAcked();
          },
          (err: unknown) => failures.push(err),
        ),
    );
    await Promise.race([tenAckedPromise, Promise.all(inFlight)]);
    await killHard(first);
    await Promise.all(inFlight);
    expect(burstAcks, String(failures[0])).toBeGreaterThanOrEqual(10);

    const second = await startChild(dir);
    const entries = await second.client.listEntries('main', { prefixKey: key('ns') });
    const present = new Set(entries.value.map((e) => e.name.elements[1]));
    for (const name of acknowledged.keys()) expect(present, `acknowledged ${name} lost`).toContain(name);
    const log = [];
    for await (const entry of second.client.commitLog('main')) log.push(entry.commitMeta.hash);
    for (const hash of acknowledged.values()) expect(log).toContain(hash);
    // The restarted server keeps working on the recovered state.
    const after = await second.client.commit(
      'main',
      (await second.client.getReference('main')).hash,
      { message: 'after' },
      [put(key('ns', 'after'), table('s3://after', 1n))],
    );
    expect(after.targetBranch.hash).toMatch(/^[0-9a-f]{64}$/);
    await killHard(second);
  });

  it('drops a torn record at the end of the log and refuses damage in the middle', async () => {
    const { dir, cleanup } = await tempDir('floe-nessie-torn');
    cleanups.push(cleanup);
    let server = await startNessieServer({ dataDir: dir, logger: silentLogger });
    let client = createNessieClient({ uri: server.uri });
    const r = await client.commit('main', NO_ANCESTOR_HASH, { message: 'ns' }, [put(key('ns'), namespace('ns'))]);
    await server.stop();

    const wal = path.join(
      dir,
      (await readdir(dir)).find((f) => f.startsWith('wal-'))!,
    );
    const intact = await readFile(wal);
    // A record header promising 1000 bytes, followed by only a few: a write cut short by a crash.
    const torn = Buffer.alloc(20);
    torn.writeUInt32LE(1000, 0);
    await appendFile(wal, torn);
    server = await startNessieServer({ dataDir: dir, logger: silentLogger });
    client = createNessieClient({ uri: server.uri });
    expect((await client.getReference('main')).hash).toBe(r.targetBranch.hash);
    expect((await stat(wal)).size).toBe(intact.length);
    await server.stop();

    // Flip a byte inside the first record: not a torn tail, so the server must not start (and must not truncate).
    const damaged = Buffer.from(intact);
    damaged[12] ^= 0xff;
    await writeFile(wal, damaged);
    await expect(startNessieServer({ dataDir: dir, logger: silentLogger })).rejects.toThrow(/corrupt/);
    expect((await readFile(wal)).equals(damaged)).toBe(true);
  });

  it('compacts the log into a snapshot and replays it, dropping only unreachable commits', async () => {
    const { dir, cleanup } = await tempDir('floe-nessie-compact');
    cleanups.push(cleanup);
    let server = await startNessieServer({ dataDir: dir, logger: silentLogger, compactAfterBytes: 4096 });
    let client = createNessieClient({ uri: server.uri });
    let head = (await client.commit('main', NO_ANCESTOR_HASH, { message: 'ns' }, [put(key('ns'), namespace('ns'))]))
      .targetBranch.hash;
    const ids = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const r = await client.commit('main', head, { message: `c${i}` }, [
        put(key('ns', `t${i % 5}`), table(`s3://t/${i}`, BigInt(i), ids.get(`t${i % 5}`))),
      ]);
      for (const added of r.addedContents) ids.set(added.key.elements[1], added.contentId);
      head = r.targetBranch.hash;
    }
    const scratch = await client.createReference('wap/scratch', 'BRANCH', { hash: head });
    const lost = await client.commit(scratch.name, scratch.hash, { message: 'discarded' }, [
      put(key('ns', 'tmp'), table('s3://tmp', 1n)),
    ]);
    await client.deleteReference(scratch.name, 'BRANCH', lost.targetBranch.hash);
    for (let i = 0; i < 10; i++)
      head = (
        await client.commit('main', head, { message: `d${i}` }, [
          put(key('ns', 't0'), table(`s3://d/${i}`, BigInt(i), ids.get('t0'))),
        ])
      ).targetBranch.hash;
    await server.stop();
    const files = await readdir(dir);
    expect(files).toContain('snapshot.log');
    expect(files.filter((f) => f.startsWith('wal-')).length).toBe(1);

    server = await startNessieServer({ dataDir: dir, logger: silentLogger });
    client = createNessieClient({ uri: server.uri });
    expect((await client.getReference('main')).hash).toBe(head);
    let count = 0;
    for await (const _ of client.commitLog('main')) count++;
    expect(count).toBe(51);
    expect((await client.getContent('main', key('ns', 't0'))).value).toMatchObject({ metadataLocation: 's3://d/9' });
    await expect(client.getContent(`@${lost.targetBranch.hash}`, key('ns', 'tmp'))).rejects.toThrow(/not found/);
    await server.stop();
  });
});
