/**
 * A local directory as an object store. Writes are atomic: the bytes go to a temp file in the same directory, are
 * fsynced, renamed over the key and the directory is fsynced, so a reader sees the old object or the new one, never a
 * half-written one, and a crash never leaves a torn object behind.
 */
import { mkdir, open, readdir, rename, rm, stat, link, unlink, type FileHandle } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import {
  checkKey,
  NotFoundError,
  PreconditionFailedError,
  StorageError,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';

const TEMP_MARK = '.floe-tmp-';

export function localStore(root: string): ObjectStore {
  const base = path.resolve(root);
  const url = `file://${base}/`;
  const where = `local store ${base}`;
  const fileOf = (key: string) => path.join(base, checkKey(key));

  const missing = (err: unknown) =>
    (err as NodeJS.ErrnoException)?.code === 'ENOENT' || (err as NodeJS.ErrnoException)?.code === 'ENOTDIR';

  /** Runs `read` on an open handle of the key's file; the handle pins one version even if a writer replaces it. */
  async function withFile<T>(key: string, read: (handle: FileHandle) => Promise<T>): Promise<T> {
    let handle: FileHandle;
    try {
      handle = await open(fileOf(key), 'r');
    } catch (err) {
      if (missing(err) || (err as NodeJS.ErrnoException)?.code === 'EISDIR') throw new NotFoundError(key, where);
      throw err;
    }
    try {
      return await read(handle);
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code === 'EISDIR') throw new NotFoundError(key, where);
      throw err;
    } finally {
      await handle.close();
    }
  }

  async function readFully(handle: FileHandle, offset: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await handle.read(buffer, read, length - read, offset + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read);
  }

  function get(key: string): Promise<Uint8Array> {
    return withFile(key, async (handle) => {
      const info = await handle.stat();
      if (!info.isFile()) throw new NotFoundError(key, where);
      return readFully(handle, 0, info.size);
    });
  }

  async function getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0) throw new StorageError(`invalid range ${offset}+${length} for ${key}`, key);
    return withFile(key, (handle) => readFully(handle, offset, length));
  }

  async function put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    const file = fileOf(key);
    const dir = path.dirname(file);
    const temp = path.join(dir, `${TEMP_MARK}${randomUUID()}`);
    let handle: FileHandle;
    try {
      handle = await open(temp, 'wx');
    } catch (err) {
      // The directory is usually there already: creating it only when missing saves a file-system call per write.
      if ((err as NodeJS.ErrnoException)?.code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      handle = await open(temp, 'wx');
    }
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      if (options.ifNoneMatch === '*') {
        // link() fails if the target exists: an atomic create-if-absent, unlike rename() which replaces.
        try {
          await link(temp, file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException)?.code === 'EEXIST') throw new PreconditionFailedError(key, where);
          throw err;
        } finally {
          await unlink(temp).catch(() => undefined);
        }
      } else {
        await rename(temp, file);
      }
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDir(dir);
  }

  async function head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(fileOf(key));
      if (!info.isFile()) return undefined;
      return { key, size: info.size, lastModified: info.mtime };
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
  }

  async function* list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    if (prefix) {
      if (prefix.startsWith('/') || prefix.split('/').some((part) => part === '..'))
        throw new StorageError(`invalid prefix: ${prefix}`, prefix);
    }
    // Walk only the directory that can contain the prefix, in key order.
    const slash = prefix.lastIndexOf('/');
    const startDir = slash >= 0 ? prefix.slice(0, slash) : '';
    for await (const item of walk(startDir)) {
      if (!item.key.startsWith(prefix)) continue;
      if (options.startAfter !== undefined && item.key <= options.startAfter) continue;
      yield item;
    }
  }

  async function* walk(dirKey: string): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await readdir(dirKey ? path.join(base, dirKey) : base, { withFileTypes: true });
    } catch (err) {
      if (missing(err)) return;
      throw err;
    }
    // Sort by the key each entry produces so the listing is in S3 key order ("a/b" sorts after "a-b").
    const named = entries
      .filter((entry) => !entry.name.startsWith(TEMP_MARK))
      .map((entry) => ({ entry, sortKey: entry.isDirectory() ? `${entry.name}/` : entry.name }))
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    for (const { entry } of named) {
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        yield* walk(key);
      } else if (entry.isFile()) {
        try {
          const info = await stat(path.join(base, key));
          yield { key, size: info.size, lastModified: info.mtime };
        } catch (err) {
          if (!missing(err)) throw err; // deleted while listing
        }
      }
    }
  }

  async function del(key: string): Promise<void> {
    await rm(fileOf(key), { force: true });
  }

  async function deleteMany(keys: string[]) {
    const deleted: string[] = [];
    const failed: { key: string; message: string }[] = [];
    for (const key of keys) {
      try {
        await del(key);
        deleted.push(key);
      } catch (err) {
        failed.push({ key, message: (err as Error).message });
      }
    }
    return { deleted, failed };
  }

  return { url, get, getRange, put, head, list, delete: del, deleteMany };
}

async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}
