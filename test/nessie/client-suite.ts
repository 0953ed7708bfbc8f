/**
 * The Nessie client suite, over real HTTP, for any server: test/nessie/client.test.ts runs it against the embedded
 * server, test/engines/nessie-client.test.ts against a real Nessie. Against a shared server it never writes to the
 * default branch: every test works on branches with unique names and deletes nothing it did not create.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NessieAlreadyExistsError,
  NessieBadRequestError,
  NessieNotFoundError,
  NessieReferenceConflictError,
  type IcebergTable,
  type NamedReference,
  type NessieClient,
} from '../../shared/catalog/nessie/index.ts';
import { key, namespace, put, table, unique } from './helpers.ts';

const BIG_SNAPSHOT_ID = 6270371423468402233n; // > 2^53: JSON.parse would corrupt it

export function clientSuite(label: string, connect: () => Promise<{ client: NessieClient; stop(): Promise<void> }>) {
  describe(label, () => {
    let client: NessieClient;
    let stop: () => Promise<void>;
    let mainHash: string;
    const ns = unique('floe_test_');

    beforeAll(async () => {
      ({ client, stop } = await connect());
      mainHash = (await client.getReference('-')).hash;
    });
    afterAll(async () => stop?.());

    /** A fresh branch from main with the test namespace in it. */
    async function workBranch(prefix = 'wap/t-'): Promise<NamedReference> {
      const name = unique(prefix);
      const created = await client.createReference(name, 'BRANCH', { name: 'main', hash: mainHash });
      const commit = await client.commit(name, created.hash, { message: 'namespace' }, [put(key(ns), namespace(ns))]);
      return commit.targetBranch;
    }

    async function createTable(
      branch: NamedReference,
      name: string,
      snapshotId = 1n,
    ): Promise<{ head: string; id: string }> {
      const r = await client.commit(branch.name, branch.hash, { message: `create ${name}` }, [
        put(key(ns, name), table(`s3://lake/${name}/0.json`, snapshotId)),
      ]);
      return { head: r.targetBranch.hash, id: r.addedContents[0].contentId };
    }

    it('reads the server configuration', async () => {
      const config = await client.config();
      expect(config.defaultBranch).toBe('main');
      expect(config.maxSupportedApiVersion).toBeGreaterThanOrEqual(2);
      expect(config.specVersion).toMatch(/^2\./);
    });

    it('creates, lists, assigns and deletes references, with typed errors', async () => {
      const name = unique('wap/refs-');
      const branch = await client.createReference(name, 'BRANCH', { name: 'main', hash: mainHash });
      expect(branch).toMatchObject({ type: 'BRANCH', name, hash: mainHash });
      expect(await client.getReference(name)).toMatchObject({ name, hash: mainHash });

      const listed = await client.listReferences({ filter: `refType == 'BRANCH' && ref.name.startsWith('${name}')` });
      expect(listed.map((r) => r.name)).toEqual([name]);

      await expect(client.createReference(name, 'BRANCH', { hash: mainHash })).rejects.toBeInstanceOf(
        NessieAlreadyExistsError,
      );
      await expect(client.getReference(unique('nope-'))).rejects.toBeInstanceOf(NessieNotFoundError);

      const moved = await client.commit(name, mainHash, { message: 'ns' }, [put(key(ns), namespace(ns))]);
      const tag = await client.createReference(unique('tag-'), 'TAG', { hash: moved.targetBranch.hash });
      expect(tag.type).toBe('TAG');

      // Deleting with a stale hash is a conflict naming the unexpected hash, and changes nothing.
      const stale = await client.deleteReference(name, 'BRANCH', mainHash).catch((e: unknown) => e);
      expect(stale).toBeInstanceOf(NessieReferenceConflictError);
      expect((stale as NessieReferenceConflictError).conflicts[0]?.conflictType).toBe('UNEXPECTED_HASH');
      expect((stale as NessieReferenceConflictError).retryable).toBe(false);

      const assigned = await client.assignReference(name, 'BRANCH', moved.targetBranch.hash, { hash: mainHash });
      expect(assigned.hash).toBe(mainHash);
      await client.deleteReference(name, 'BRANCH', mainHash);
      await expect(client.getReference(name)).rejects.toBeInstanceOf(NessieNotFoundError);
      await client.deleteReference(tag.name, 'TAG', tag.hash);
    });

    it('reports HEAD commit metadata and ahead/behind counts with fetch ALL', async () => {
      const branch = await workBranch();
      const created = await createTable(branch, 'meta');
      const r = await client.commit(
        branch.name,
        created.head,
        { message: 'stage written', properties: { 'floe.stage': 'written' }, authors: ['writer'] },
        [put(key(ns, 'meta'), table('s3://m/1', 2n, created.id))],
      );
      const ref = await client.getReference(branch.name, { fetch: 'ALL' });
      expect(ref.hash).toBe(r.targetBranch.hash);
      expect(ref.metadata?.commitMetaOfHEAD).toMatchObject({
        hash: r.targetBranch.hash,
        message: 'stage written',
        authors: ['writer'],
        allProperties: { 'floe.stage': ['written'] },
      });
      expect(ref.metadata?.numCommitsAhead).toBe(3);
      expect(ref.metadata?.commonAncestorHash).toBe(mainHash);
      const listed = await client.listReferences({
        fetch: 'ALL',
        filter: `ref.name == '${branch.name}' && commit.message == 'stage written'`,
      });
      expect(listed.map((x) => x.name)).toEqual([branch.name]);
    });

    it('commits a namespace and a table, keeps 64-bit snapshot ids exact, and updates by content id', async () => {
      const branch = await workBranch();
      const created = await createTable(branch, 'orders', BIG_SNAPSHOT_ID);
      const read = await client.getContent(branch.name, key(ns, 'orders'));
      expect(read.effectiveReference.hash).toBe(created.head);
      const content = read.value as IcebergTable;
      expect(content.id).toBe(created.id);
      expect(content.snapshotId).toBe(BIG_SNAPSHOT_ID);

      const next = BIG_SNAPSHOT_ID + 1n;
      const updated = await client.commit(
        branch.name,
        created.head,
        { message: 'append', properties: { 'iceberg.operation': 'append' } },
        [put(key(ns, 'orders'), table('s3://lake/orders/1.json', next, created.id))],
      );
      expect(updated.addedContents).toEqual([]);
      expect(((await client.getContent(branch.name, key(ns, 'orders'))).value as IcebergTable).snapshotId).toBe(next);

      // An update without the content id is rejected, as is a create that carries one.
      await expect(
        client.commit(branch.name, updated.targetBranch.hash, { message: 'x' }, [
          put(key(ns, 'orders'), table('s3://x', 1n)),
        ]),
      ).rejects.toBeInstanceOf(NessieBadRequestError);
      await expect(
        client.commit(branch.name, updated.targetBranch.hash, { message: 'x' }, [
          put(key(ns, 'other'), table('s3://x', 1n, created.id)),
        ]),
      ).rejects.toBeInstanceOf(NessieBadRequestError);
    });

    it('accepts a stale expected hash unless a touched key changed (per-key optimistic concurrency)', async () => {
      const branch = await workBranch();
      const a = await createTable(branch, 'a');
      const b = await client.commit(branch.name, a.head, { message: 'b' }, [put(key(ns, 'b'), table('s3://b/0', 1n))]);
      const bId = b.addedContents[0].contentId;

      // Against the older hash, touching only `b` (unchanged since then? no: created after) — conflict: key exists.
      const exists = await client
        .commit(branch.name, a.head, { message: 'x' }, [put(key(ns, 'b'), table('s3://b/x', 2n))])
        .catch((e: unknown) => e);
      expect((exists as NessieReferenceConflictError).conflicts.map((c) => c.conflictType)).toEqual(['KEY_EXISTS']);

      // Touching `a` against the stale hash is fine: `a` did not change since.
      const ok = await client.commit(branch.name, a.head, { message: 'a1' }, [
        put(key(ns, 'a'), table('s3://a/1', 2n, a.id)),
      ]);
      expect(ok.targetBranch.hash).not.toBe(b.targetBranch.hash);

      // Touching `a` again against the stale hash conflicts with VALUE_DIFFERS on exactly that key.
      const conflict = await client
        .commit(branch.name, a.head, { message: 'a2' }, [put(key(ns, 'a'), table('s3://a/2', 3n, a.id))])
        .catch((e: unknown) => e);
      expect(conflict).toBeInstanceOf(NessieReferenceConflictError);
      expect((conflict as NessieReferenceConflictError).conflicts).toEqual([
        expect.objectContaining({ conflictType: 'VALUE_DIFFERS', key: key(ns, 'a') }),
      ]);

      // Both tables are intact at the head.
      const both = await client.getContents(branch.name, [key(ns, 'a'), key(ns, 'b'), key(ns, 'missing')]);
      expect(both.value.map((c) => c.key.elements.at(-1)).sort()).toEqual(['a', 'b']);
      expect(both.value.find((c) => c.key.elements.at(-1) === 'b')!.content.id).toBe(bId);
    });

    it('requires the namespace and reports deletes of missing keys', async () => {
      const branch = await workBranch();
      const absent = await client
        .commit(branch.name, branch.hash, { message: 'x' }, [put(key(unique('nons'), 't'), table('s3://x', 1n))])
        .catch((e: unknown) => e);
      expect((absent as NessieReferenceConflictError).conflicts[0].conflictType).toBe('NAMESPACE_ABSENT');
      const missing = await client
        .commit(branch.name, branch.hash, { message: 'x' }, [{ type: 'DELETE', key: key(ns, 'nothing') }])
        .catch((e: unknown) => e);
      expect((missing as NessieReferenceConflictError).conflicts[0].conflictType).toBe('KEY_DOES_NOT_EXIST');
    });

    it('lists entries by prefix and CEL filter, with content, and encodes keys with dots and slashes', async () => {
      const branch = await workBranch();
      const { head } = await createTable(branch, 'events');
      const odd = await client.commit(branch.name, head, { message: 'odd' }, [
        put(key(ns, 'we.ird/name%x'), table('s3://odd', 5n)),
      ]);
      const all = await client.listEntries(branch.name, { prefixKey: key(ns), content: true });
      expect(all.effectiveReference.hash).toBe(odd.targetBranch.hash);
      expect(all.value.map((e) => e.name.elements)).toEqual([[ns], [ns, 'events'], [ns, 'we.ird/name%x']]);
      expect(all.value[1].content).toMatchObject({ type: 'ICEBERG_TABLE', snapshotId: 1n });

      const tables = await client.listEntries(branch.name, {
        filter: `entry.namespace == '${ns}' && entry.contentType == 'ICEBERG_TABLE'`,
      });
      expect(tables.value.map((e) => e.name.elements.at(-1))).toEqual(['events', 'we.ird/name%x']);

      const oddRead = await client.getContent(branch.name, key(ns, 'we.ird/name%x'));
      expect(oddRead.value).toMatchObject({ metadataLocation: 's3://odd' });
    });

    it('merges a branch (squash, merge base, DROP keys), reports conflicts as results, and dry-runs', async () => {
      const target = await workBranch('wap/target-');
      const base = await createTable(target, 'facts');
      const wap = await client.createReference(unique('wap/job-'), 'BRANCH', { name: target.name, hash: base.head });
      const onWap = await client.commit(wap.name, wap.hash, { message: 'append + staging' }, [
        put(key(ns, 'facts'), table('s3://facts/1', 2n, base.id)),
        put(key(ns, 'staging'), table('s3://staging/0', 1n)),
      ]);

      const dry = await client.merge(target.name, base.head, {
        fromRefName: wap.name,
        fromHash: onWap.targetBranch.hash,
        dryRun: true,
        keyMergeModes: [{ key: key(ns, 'staging'), mergeBehavior: 'DROP' }],
      });
      expect(dry).toMatchObject({ wasSuccessful: true, wasApplied: false });
      expect((await client.getReference(target.name)).hash).toBe(base.head);

      const merged = await client.merge(target.name, base.head, {
        fromRefName: wap.name,
        fromHash: onWap.targetBranch.hash,
        commitMeta: { message: 'publish' },
        keyMergeModes: [{ key: key(ns, 'staging'), mergeBehavior: 'DROP' }],
      });
      expect(merged).toMatchObject({
        wasApplied: true,
        wasSuccessful: true,
        commonAncestor: base.head,
        targetBranch: target.name,
      });
      expect(merged.details).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: key(ns, 'facts'), mergeBehavior: 'NORMAL' }),
          expect.objectContaining({ key: key(ns, 'staging'), mergeBehavior: 'DROP' }),
        ]),
      );
      await expect(client.getContent(target.name, key(ns, 'staging'))).rejects.toBeInstanceOf(NessieNotFoundError);
      expect((await client.getContent(target.name, key(ns, 'facts'))).value).toMatchObject({
        metadataLocation: 's3://facts/1',
      });

      // The merge commit has the source head as its second parent.
      const [mergeCommit] = await takeLog(client.commitLog(target.name, { maxRecords: 1 }), 1);
      expect(mergeCommit.commitMeta.parentCommitHashes).toEqual([base.head, onWap.targetBranch.hash]);

      // Merging again: nothing to do.
      const again = await client.merge(target.name, merged.resultantTargetHash!, {
        fromRefName: wap.name,
        fromHash: onWap.targetBranch.hash,
      });
      expect(again).toMatchObject({ wasSuccessful: true, wasApplied: false });

      // Another branch that changed `facts` since the (old) merge base conflicts.
      const late = await client.createReference(unique('wap/late-'), 'BRANCH', { name: target.name, hash: base.head });
      const lateCommit = await client.commit(late.name, late.hash, { message: 'late' }, [
        put(key(ns, 'facts'), table('s3://facts/late', 3n, base.id)),
      ]);
      const conflict = await client.merge(target.name, merged.resultantTargetHash!, {
        fromRefName: late.name,
        fromHash: lateCommit.targetBranch.hash,
      });
      expect(conflict).toMatchObject({ wasSuccessful: false, wasApplied: false, resultantTargetHash: null });
      expect(conflict.details.find((d) => d.conflict)?.conflict).toMatchObject({
        conflictType: 'VALUE_DIFFERS',
        key: key(ns, 'facts'),
      });
      const thrown = await client
        .merge(target.name, merged.resultantTargetHash!, {
          fromRefName: late.name,
          fromHash: lateCommit.targetBranch.hash,
          returnConflictAsResult: false,
        })
        .catch((e: unknown) => e);
      expect(thrown).toBeInstanceOf(NessieReferenceConflictError);
      expect((thrown as NessieReferenceConflictError).conflicts.some((c) => c.conflictType === 'VALUE_DIFFERS')).toBe(
        true,
      );
    });

    it('transplants commits one by one', async () => {
      const source = await workBranch();
      const first = await createTable(source, 'x');
      const second = await client.commit(source.name, first.head, { message: 'x1' }, [
        put(key(ns, 'x'), table('s3://x/1', 2n, first.id)),
      ]);
      const target = await workBranch();
      const result = await client.transplant(target.name, target.hash, {
        fromRefName: source.name,
        hashesToTransplant: [first.head, second.targetBranch.hash],
      });
      expect(result).toMatchObject({ wasApplied: true, wasSuccessful: true, commonAncestor: null });
      const log = await takeLog(client.commitLog(target.name), 2);
      expect(log.map((e) => e.commitMeta.message)).toEqual(['x1', 'create x']);
    });

    it('pages through the commit log, reads operations and relative references', async () => {
      const branch = await workBranch();
      const created = await createTable(branch, 'log', BIG_SNAPSHOT_ID);
      const id = created.id;
      let head = created.head;
      for (let i = 1; i <= 4; i++) {
        head = (
          await client.commit(branch.name, head, { message: `c${i}`, authors: ['tester <t@example.com>'] }, [
            put(key(ns, 'log'), table(`s3://log/${i}`, BIG_SNAPSHOT_ID + BigInt(i), id)),
          ])
        ).targetBranch.hash;
      }
      const entries = await takeLog(client.commitLog(branch.name, { maxRecords: 2, fetch: 'ALL' }), 7);
      expect(entries.slice(0, 6).map((e) => e.commitMeta.message)).toEqual([
        'c4',
        'c3',
        'c2',
        'c1',
        'create log',
        'namespace',
      ]);
      expect(entries[0].commitMeta.authors).toEqual(['tester <t@example.com>']);
      const op = entries[0].operations?.[0];
      expect(op?.type === 'PUT' && (op.content as IcebergTable).snapshotId).toBe(BIG_SNAPSHOT_ID + 4n);

      const limited = await takeLog(client.commitLog(branch.name, { limitHash: entries[2].commitMeta.hash }), 10);
      expect(limited.map((e) => e.commitMeta.message)).toEqual(['c4', 'c3', 'c2']);

      const twoBack = await client.getContent(`${branch.name}~2`, key(ns, 'log'));
      expect(twoBack.value).toMatchObject({ metadataLocation: 's3://log/2' });
      expect(twoBack.effectiveReference.hash).toBe(entries[2].commitMeta.hash);
      const atHash = await client.getContent(`${branch.name}@${entries[3].commitMeta.hash}`, key(ns, 'log'));
      expect(atHash.value).toMatchObject({ metadataLocation: 's3://log/1' });
    });

    it('diffs two references', async () => {
      const a = await workBranch();
      const b = await client.createReference(unique('wap/diff-'), 'BRANCH', { name: a.name, hash: a.hash });
      const made = await createTable({ ...b, hash: b.hash }, 'only_b');
      const diffs = await client.diff(a.name, `${b.name}@${made.head}`);
      expect(diffs).toEqual([
        expect.objectContaining({
          key: key(ns, 'only_b'),
          to: expect.objectContaining({ metadataLocation: 's3://lake/only_b/0.json' }),
        }),
      ]);
    });
  });
}

async function takeLog<T>(iterable: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) {
    out.push(item);
    if (out.length >= n) break;
  }
  return out;
}
