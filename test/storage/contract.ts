/**
 * The object store contract every implementation passes: test/storage/store.test.ts runs it on the local directory
 * store and on the S3 store against s3rver, test/engines/s3-store.test.ts on the S3 store against a real S3 server.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import {
  collect,
  NotFoundError,
  PreconditionFailedError,
  StorageError,
  type ObjectStore,
} from '../../shared/storage/index.ts';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

/**
 * `conditionalPut: false` leaves out the create-if-absent test for servers that ignore If-None-Match (s3rver); the
 * engines suite runs it against a real S3 server.
 */
export function storeContract(name: string, makeStore: () => ObjectStore, options: { conditionalPut: boolean }) {
  describe(`${name} object store`, () => {
    let store: ObjectStore;
    beforeAll(() => {
      store = makeStore();
    });

    it('puts, gets, heads and deletes an object', async () => {
      await store.put('a/b/hello.txt', 'hello world');
      expect(text(await store.get('a/b/hello.txt'))).toBe('hello world');
      const info = await store.head('a/b/hello.txt');
      expect(info?.size).toBe(11);
      expect(info?.lastModified).toBeInstanceOf(Date);
      await store.delete('a/b/hello.txt');
      expect(await store.head('a/b/hello.txt')).toBeUndefined();
      await expect(store.get('a/b/hello.txt')).rejects.toBeInstanceOf(NotFoundError);
      await store.delete('a/b/hello.txt'); // deleting a missing object is fine
    });

    it('overwrites an object with new bytes', async () => {
      await store.put('over/x', 'first version');
      await store.put('over/x', 'second');
      expect(text(await store.get('over/x'))).toBe('second');
    });

    it('reads byte ranges, clipped at the end', async () => {
      const bytes = randomBytes(1000);
      await store.put('range/blob.bin', bytes);
      expect(Buffer.from(await store.getRange('range/blob.bin', 10, 20))).toEqual(bytes.subarray(10, 30));
      expect(Buffer.from(await store.getRange('range/blob.bin', 990, 100))).toEqual(bytes.subarray(990));
      expect((await store.getRange('range/blob.bin', 0, 0)).length).toBe(0);
      await expect(store.getRange('range/missing.bin', 0, 10)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('lists by prefix in key order, across pages, with startAfter', async () => {
      const keys = Array.from({ length: 25 }, (_, i) => `list/p${String(i).padStart(3, '0')}.dat`);
      for (const key of keys) await store.put(key, key);
      await store.put('list-other/x', 'x');
      await store.put('list/sub/deep.dat', 'deep');
      const all = await collect(store.list('list/', { pageSize: 7 }));
      expect(all.map((o) => o.key)).toEqual([...keys, 'list/sub/deep.dat']);
      expect(all[0].size).toBe(keys[0].length);
      const after = await collect(store.list('list/p02', { startAfter: 'list/p021.dat', pageSize: 2 }));
      expect(after.map((o) => o.key)).toEqual(['list/p022.dat', 'list/p023.dat', 'list/p024.dat']);
      expect(await collect(store.list('nothing-here/'))).toEqual([]);
    });

    it('deletes many objects and reports each', async () => {
      const keys = ['many/1', 'many/2', 'many/3'];
      for (const key of keys) await store.put(key, 'x');
      const result = await store.deleteMany([...keys, 'many/missing']);
      expect(result.failed).toEqual([]);
      expect(result.deleted.sort()).toEqual([...keys, 'many/missing'].sort());
      expect(await collect(store.list('many/'))).toEqual([]);
    });

    it('rejects keys that would escape the root', async () => {
      for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a/./b', '']) {
        await expect(store.put(key, 'x')).rejects.toBeInstanceOf(StorageError);
        await expect(store.get(key)).rejects.toBeInstanceOf(StorageError);
      }
    });

    it('stores binary bytes exactly, including a large multi-part-sized body', async () => {
      const big = randomBytes(6 * 1024 * 1024 + 17);
      await store.put('big/object.bin', big);
      expect(Buffer.from(await store.get('big/object.bin')).equals(big)).toBe(true);
      expect((await store.head('big/object.bin'))?.size).toBe(big.length);
    });

    if (options.conditionalPut) {
      it('create-if-absent fails when the object exists', async () => {
        await store.put('cond/pointer', 'v1', { ifNoneMatch: '*' });
        await expect(store.put('cond/pointer', 'v2', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        );
        expect(text(await store.get('cond/pointer'))).toBe('v1');
      });
    }
  });
}
