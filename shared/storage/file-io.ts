/**
 * Resolves the absolute locations that table metadata records (`s3://bucket/key`, `file:///dir/key`, `/dir/key`)
 * to an object store and a key. Optional location maps rewrite recorded prefixes first, to read a table whose files
 * were moved (`s3a://bucket/=/local/dir/`).
 */
import path from 'node:path';
import { localStore } from './local-store.ts';
import { s3Client, s3Store, type S3Options } from './s3-store.ts';
import { StorageError, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.ts';

export interface LocationMap {
  from: string;
  to: string;
}

export interface Mount {
  /** Location prefix served by `store`, e.g. `s3://warehouse/` or `file:///var/floe/warehouse/`. */
  prefix: string;
  store: ObjectStore;
}

export interface FileIOOptions {
  mounts?: Mount[];
  /** Serve any `s3://` (and `s3a://`, `s3n://`) bucket with this configuration. */
  s3?: Omit<S3Options, 'bucket' | 'prefix'>;
  /** Serve `file://` URLs and absolute paths from the local filesystem. */
  localFiles?: boolean;
  maps?: LocationMap[];
}

export interface LocatedObject {
  location: string;
  size: number;
  lastModified: Date;
}

export interface FileIO {
  read(location: string): Promise<Uint8Array>;
  readRange(location: string, offset: number, length: number): Promise<Uint8Array>;
  write(location: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  head(location: string): Promise<{ size: number; lastModified: Date } | undefined>;
  delete(location: string): Promise<void>;
  deleteMany(locations: string[]): Promise<{ deleted: string[]; failed: { location: string; message: string }[] }>;
  /** Every object under a location prefix. */
  list(prefix: string): AsyncIterable<LocatedObject>;
  resolve(location: string): { store: ObjectStore; key: string; location: string };
}

/**
 * The `file:` location of a local path. Locations are taken literally, as Iceberg writers record them (a partition
 * directory named `ts=2023-05-15T14%3A30%3A45%2B00%3A00` exists with the `%` signs on disk), so no percent-encoding.
 */
export function fileLocation(localPath: string): string {
  return `file://${path.resolve(localPath)}`;
}

/** The local path of a `file:` location (`file:///a/b`, Hadoop's `file:/a/b`), taken literally. */
export function localPathOf(location: string): string {
  return location.replace(/^file:(\/\/)?/, '');
}

/** `s3a://` and `s3n://` are the Hadoop names of `s3://`. */
export function normalizeScheme(location: string): string {
  return location.replace(/^s3[an]:\/\//, 's3://');
}

export function parseLocationMap(text: string): LocationMap {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new StorageError(`invalid location map '${text}': expected FROM=TO`);
  const from = text.slice(0, eq);
  let to = text.slice(eq + 1);
  if (!/^[a-z][a-z0-9+.-]*:/i.test(to)) to = fileLocation(to) + (to.endsWith('/') ? '/' : '');
  if (from.endsWith('/') && !to.endsWith('/')) to += '/';
  return { from, to };
}

export function applyLocationMaps(location: string, maps: LocationMap[]): string {
  let best: LocationMap | undefined;
  for (const map of maps) {
    if (location.startsWith(map.from) && (!best || map.from.length > best.from.length)) best = map;
  }
  return best ? best.to + location.slice(best.from.length) : location;
}

export function createFileIO(options: FileIOOptions): FileIO {
  const mounts = [...(options.mounts ?? [])].sort((a, b) => b.prefix.length - a.prefix.length);
  const maps = options.maps ?? [];
  const buckets = new Map<string, ObjectStore>();
  const client = options.s3 ? s3Client(options.s3) : undefined;
  const rootStore = options.localFiles ? localStore('/') : undefined;

  function resolve(original: string): { store: ObjectStore; key: string; location: string } {
    const location = normalizeScheme(applyLocationMaps(original, maps));
    for (const mount of mounts) {
      if (location.startsWith(mount.prefix))
        return { store: mount.store, key: location.slice(mount.prefix.length), location };
    }
    const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
    if (s3 && options.s3 && client) {
      const bucket = s3[1];
      let store = buckets.get(bucket);
      if (!store) {
        store = s3Store({ ...options.s3, bucket, client });
        buckets.set(bucket, store);
      }
      return { store, key: s3[2], location };
    }
    if (rootStore && (location.startsWith('file:/') || location.startsWith('/'))) {
      const file = location.startsWith('file:') ? localPathOf(location) : location;
      const key = path.resolve(file).slice(1) + (file.endsWith('/') && file.length > 1 ? '/' : '');
      return { store: rootStore, key, location };
    }
    throw new StorageError(
      `no storage is configured for location '${original}'` +
        (location !== original ? ` (mapped to '${location}')` : '') +
        (/^[a-z][a-z0-9+.-]*:/i.test(location) || location.startsWith('/')
          ? ''
          : ': it is relative; map it with --map FROM=TO'),
      original,
    );
  }

  const withLocation = async <T>(
    location: string,
    run: (store: ObjectStore, key: string) => Promise<T>,
  ): Promise<T> => {
    const { store, key } = resolve(location);
    try {
      return await run(store, key);
    } catch (err) {
      if (err instanceof StorageError && !err.message.includes(location))
        err.message = `${err.message} [location ${location}]`;
      throw err;
    }
  };

  return {
    resolve,
    read: (location) => withLocation(location, (store, key) => store.get(key)),
    readRange: (location, offset, length) =>
      withLocation(location, (store, key) => store.getRange(key, offset, length)),
    write: (location, body, putOptions) => withLocation(location, (store, key) => store.put(key, body, putOptions)),
    head: (location) => withLocation(location, (store, key) => store.head(key)),
    delete: (location) => withLocation(location, (store, key) => store.delete(key)),
    async deleteMany(locations) {
      const groups = new Map<ObjectStore, { key: string; location: string }[]>();
      for (const location of locations) {
        const { store, key } = resolve(location);
        const group = groups.get(store) ?? [];
        group.push({ key, location });
        groups.set(store, group);
      }
      const deleted: string[] = [];
      const failed: { location: string; message: string }[] = [];
      for (const [store, items] of groups) {
        const byKey = new Map(items.map((item) => [item.key, item.location]));
        const result = await store.deleteMany(items.map((item) => item.key));
        for (const key of result.deleted) deleted.push(byKey.get(key)!);
        for (const failure of result.failed)
          failed.push({ location: byKey.get(failure.key)!, message: failure.message });
      }
      return { deleted, failed };
    },
    /** Listed objects are named under the prefix as given (before location maps), like the locations tables record. */
    async *list(prefix) {
      const { store, key } = resolve(prefix);
      for await (const item of store.list(key) as AsyncIterable<ObjectInfo>) {
        yield { location: prefix + item.key.slice(key.length), size: item.size, lastModified: item.lastModified };
      }
    },
  };
}
