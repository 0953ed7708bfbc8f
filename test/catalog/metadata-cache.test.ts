/**
 * The parsed-metadata cache: hits skip the read, the least recently used file goes first, and the budget counts the
 * files' text, so a few large metadata files (a long history) cannot fill a function's heap.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMetadataCache } from '../../shared/catalog/table-catalog.ts';
import { newTableMetadata, serializeTableMetadata } from '../../shared/iceberg/metadata.ts';
import type { Schema } from '../../shared/iceberg/types.ts';
import { createFileIO, fileLocation, type FileIO } from '../../shared/storage/index.ts';
import { tempDir } from '../helpers/tmp.ts';

const schema: Schema = { type: 'struct', schemaId: 0, fields: [{ id: 1, name: 'id', required: true, type: 'string' }] };

let tmp: { dir: string; cleanup(): Promise<void> };
let io: FileIO;
const reads: string[] = [];
/** Writes a metadata file of about `kib` KiB (padded with a table property) and returns its location. */
async function metadataFile(name: string, kib: number): Promise<string> {
  const location = fileLocation(`${tmp.dir}/${name}.metadata.json`);
  const metadata = newTableMetadata({
    location: fileLocation(tmp.dir),
    schema,
    properties: { pad: 'x'.repeat(kib * 1024) },
  });
  await io.write(location, serializeTableMetadata(metadata));
  return location;
}

beforeAll(async () => {
  tmp = await tempDir('floe-metadata-cache');
  const real = createFileIO({ localFiles: true });
  // The real local store, with its reads counted.
  io = { ...real, read: (location: string) => (reads.push(location), real.read(location)) };
});
afterAll(() => tmp.cleanup());

it('reads a file once, evicts the least recently used first, and keeps the text within the byte budget', async () => {
  const cache = createMetadataCache({ maxBytes: 100 * 1024, maxEntries: 10 });
  const [a, b, c] = [await metadataFile('a', 40), await metadataFile('b', 40), await metadataFile('c', 40)];
  const first = await cache.read(io, a);
  expect(await cache.read(io, a)).toBe(first);
  await cache.read(io, b);
  await cache.read(io, a); // a is now the most recently used
  await cache.read(io, c); // 120 KiB > 100: b goes
  expect(reads).toEqual([a, b, c]);
  expect(cache.size.entries).toBe(2);
  expect(cache.size.bytes).toBeLessThanOrEqual(100 * 1024);
  await cache.read(io, a);
  await cache.read(io, b);
  expect(reads).toEqual([a, b, c, b]);
  // A file larger than the whole budget is parsed and returned, not cached.
  const big = await metadataFile('big', 120);
  expect((await cache.read(io, big)).properties.pad).toHaveLength(120 * 1024);
  await cache.read(io, big);
  expect(reads.filter((r) => r === big)).toHaveLength(2);
  expect(cache.size.bytes).toBeLessThanOrEqual(100 * 1024);
});

it('reads, parses and counts a file asked for by two callers at once only once', async () => {
  const cache = createMetadataCache({ maxBytes: 1024 * 1024, maxEntries: 10 });
  const d = await metadataFile('d', 10);
  const [first, second] = await Promise.all([cache.read(io, d), cache.read(io, d)]);
  expect(second).toBe(first);
  expect(reads.filter((r) => r === d)).toHaveLength(1);
  expect(cache.size.entries).toBe(1);
  const { bytes } = cache.size;
  expect(bytes).toBeGreaterThan(10 * 1024);
  expect(bytes).toBeLessThan(12 * 1024);
});
