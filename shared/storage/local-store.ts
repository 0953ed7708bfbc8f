/**
 * A local directory as an object store. Writes are atomic: the bytes go to a temp file in the same directory, are
 * written through to the disk (O_DSYNC), renamed over the key and the directory is fsynced, so a reader sees the old
 * object or the new one, never a half-written one, and a crash never leaves a torn object behind.
 *
 * The write path is the tagger's claim-check cost per blob, so it makes as few thread-pool round trips as it can: a
 * round trip (a promise, a wake-up of a pool thread and back) costs more CPU than a call that touches only the cached
 * metadata of a directory just used. The calls that may wait for the disk — creating the temp file's inode, the
 * synchronous write, the directory's fsync — run on the thread pool; closing, the rename (or the link and unlink of a
 * create-if-absent) within that directory and opening it to sync run inline, and `head` stats inline (the
 * asynchronous stat builds an exception with a stack for a missing key).
 */
import {
  closeSync,
  constants,
  fdatasync,
  fsync,
  linkSync,
  open as openFd,
  openSync,
  renameSync,
  rmSync,
  statSync,
  write,
} from 'node:fs';
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
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
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    let fd: number;
    try {
      fd = await openAsync(temp, CREATE_FLAGS);
    } catch (err) {
      // The directory is usually there already: creating it only when missing saves a file-system call per write.
      if ((err as NodeJS.ErrnoException)?.code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      fd = await openAsync(temp, CREATE_FLAGS);
    }
    try {
      await writeAll(fd, bytes);
      if (!O_DSYNC)
        await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      closeSync(fd);
      await rm(temp, { force: true });
      throw err;
    }
    closeSync(fd);
    try {
      if (options.ifNoneMatch === '*') {
        // link() fails if the target exists: an atomic create-if-absent, unlike rename() which replaces.
        try {
          linkSync(temp, file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException)?.code === 'EEXIST') throw new PreconditionFailedError(key, where);
          throw err;
        } finally {
          rmSync(temp, { force: true });
        }
      } else {
        renameSync(temp, file);
      }
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDir(dir);
  }

  async function head(key: string): Promise<ObjectInfo | undefined> {
    let info;
    try {
      info = statSync(fileOf(key), { throwIfNoEntry: false });
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
    if (!info?.isFile()) return undefined;
    return { key, size: info.size, lastModified: info.mtime };
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

// O_DSYNC makes each write return once its bytes and the metadata to read them back are on the disk: what an fdatasync
// after the write gives, one thread-pool round trip fewer. Where the platform has no O_DSYNC, put() calls fdatasync.
const O_DSYNC = constants.O_DSYNC ?? 0;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_DSYNC;

function openAsync(file: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => openFd(file, flags, 0o666, (err, fd) => (err ? reject(err) : resolve(fd))));
}

async function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    offset += await new Promise<number>((resolve, reject) =>
      write(fd, bytes, offset, bytes.byteLength - offset, null, (err, written) =>
        err ? reject(err) : resolve(written),
      ),
    );
  }
}

/** Some filesystems refuse to open or fsync a directory: errors are ignored, the rename is still atomic. */
async function syncDir(dir: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY);
  } catch {
    return;
  }
  try {
    await new Promise<void>((resolve) => fsync(fd, () => resolve()));
  } finally {
    closeSync(fd);
  }
}
