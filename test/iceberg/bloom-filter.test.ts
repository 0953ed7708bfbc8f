/**
 * Parquet bloom filters: xxHash64 against the reference vectors, the split block bloom filter against hyparquet's
 * independent implementation, the header bytes, the sizes Java computes — and interop: the filters floe writes are
 * the ones DuckDB evaluates (`parquet_bloom_probe` agrees on every value), and filters DuckDB wrote (a fixture, and a
 * file written here) read back in floe holding every value of their column.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sbbfContains, sbbfInsert } from 'hyparquet/src/bloom.js';
import { xxhash64 as hyparquetXxhash64 } from 'hyparquet/src/xxhash.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bloomFilterColumns,
  bloomFilterHeader,
  bloomHash,
  optimalNumBytes,
  parseBloomFilterHeader,
  SplitBlockBloomFilter,
  xxhash64,
} from '../../shared/iceberg/bloom-filter.ts';
import { readBloomFilters, readDataFile, readDataFileMetadata } from '../../shared/iceberg/parquet-reader.ts';
import { writeDataFile } from '../../shared/iceberg/parquet-writer.ts';
import { schemaFromJson } from '../../shared/iceberg/schema.ts';
import { tempDir } from '../helpers/tmp.ts';
import { fixtureBytes, fixturePath, openDuckDB, tableSchema, type DuckDB } from './parquet-fixtures.ts';

const utf8 = (text: string) => new TextEncoder().encode(text);

describe('xxHash64 (seed 0)', () => {
  it('matches the reference vectors', () => {
    // xxHash's own test values (XXH64 of "", "a", "abc") and the python-xxhash documentation's example (≥ 32 bytes).
    expect(xxhash64(utf8(''))).toBe(0xef46db3751d8e999n);
    expect(xxhash64(utf8('a'))).toBe(0xd24ec4f1a98c6e5bn);
    expect(xxhash64(utf8('abc'))).toBe(0x44bc2cf5ad770999n);
    expect(xxhash64(utf8('Nobody inspects the spammish repetition'))).toBe(0xfbcea83c8a378bf1n);
  });

  it('agrees with an independent BigInt implementation on every length and tail', () => {
    let state = 7;
    const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) & 0xff;
    for (let length = 0; length <= 130; length++) {
      for (let round = 0; round < 4; round++) {
        const bytes = Uint8Array.from({ length }, next);
        expect(xxhash64(bytes), `length ${length}`).toBe(hyparquetXxhash64(bytes));
      }
    }
  });
});

describe('split block bloom filter', () => {
  it('sets the same bits as hyparquet for the same hashes, and finds every inserted hash', () => {
    for (const numBytes of [32, 1024, 65536]) {
      const ours = SplitBlockBloomFilter.ofBytes(numBytes);
      const theirs = new Uint32Array(numBytes / 4);
      const hashes = Array.from({ length: 300 }, (_, i) => xxhash64(utf8(`key-${numBytes}-${i}`)));
      for (const hash of hashes) {
        ours.insert(Number(hash >> 32n), Number(hash & 0xffffffffn));
        sbbfInsert(theirs, hash);
      }
      expect(ours.words).toEqual(theirs);
      for (const hash of hashes) expect(ours.mightContain(Number(hash >> 32n), Number(hash & 0xffffffffn))).toBe(true);
      for (let i = 0; i < 300; i++) {
        const absent = xxhash64(utf8(`absent-${i}`));
        expect(ours.mightContain(Number(absent >> 32n), Number(absent & 0xffffffffn))).toBe(
          sbbfContains(theirs, absent),
        );
      }
    }
  });

  it('picks the block from the upper 32 bits exactly, also for filters of millions of blocks', () => {
    const words = new Uint32Array(8 * 4_194_304); // 128 MiB, the largest filter Java writes
    const filter = new SplitBlockBloomFilter(words);
    const hash = 0xfffffffe_12345678n;
    filter.insert(0xfffffffe, 0x12345678);
    const block = Number((0xfffffffen * 4_194_304n) >> 32n);
    expect(words.slice(block * 8, block * 8 + 8).every((w) => w !== 0)).toBe(true);
    expect(sbbfContains(words, hash)).toBe(true);
  });

  it('round-trips its bytes little-endian', () => {
    const filter = SplitBlockBloomFilter.ofBytes(64);
    filter.insert(1, 2);
    const bytes = filter.toBytes();
    expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(filter.words[1]);
    expect(SplitBlockBloomFilter.fromBytes(bytes).words).toEqual(filter.words);
  });

  it('is sized as Java sizes it: power of two bytes, at least one block, at most the cap', () => {
    // -8·ndv / ln(1 - fpp^(1/8)) bits: 100k values at 1% need 121,062 bytes → 128 KiB
    expect(optimalNumBytes(100_000, 0.01, 1024 * 1024)).toBe(131_072);
    expect(optimalNumBytes(100_000, 1e-7, 1024 * 1024)).toBe(1_048_576);
    expect(optimalNumBytes(100_000, 1e-7, 300_000)).toBe(262_144);
    expect(optimalNumBytes(1, 0.01, 1024 * 1024)).toBe(32);
    expect(() => optimalNumBytes(10, 1, 1024)).toThrow(/fpp/);
  });
});

describe('BloomFilterHeader', () => {
  it('writes BLOCK / XXHASH / UNCOMPRESSED in Thrift compact form and parses it back', () => {
    // field 1 i32 (0x15) zigzag 2048 → 0x80 0x20; fields 2-4 a union holding field 1, an empty struct
    expect([...bloomFilterHeader(1024)]).toEqual([
      0x15, 0x80, 0x10, 0x1c, 0x1c, 0x00, 0x00, 0x1c, 0x1c, 0x00, 0x00, 0x1c, 0x1c, 0x00, 0x00, 0x00,
    ]);
    expect(parseBloomFilterHeader(bloomFilterHeader(1024))).toEqual({ numBytes: 1024, headerLength: 16 });
  });

  it('refuses a filter of another algorithm, hash or compression rather than trusting it', () => {
    const header = bloomFilterHeader(32);
    header[7] = 0x2c; // the hash union's member becomes field 2: not XXHASH
    expect(parseBloomFilterHeader(header)).toBeUndefined();
    expect(() => parseBloomFilterHeader(Uint8Array.from([0x15, 0x3e, 0x00]))).toThrow(/numBytes/);
    expect(() => parseBloomFilterHeader(Uint8Array.from([0x15]))).toThrow(/truncated/);
  });
});

describe('table properties', () => {
  const schema = schemaFromJson({
    type: 'struct',
    'schema-id': 0,
    fields: [
      { id: 1, name: 'event_id', required: true, type: 'string' },
      { id: 2, name: 'n', required: false, type: 'long' },
    ],
  });

  it("reads Iceberg's write.parquet.bloom-filter-* keys with Java's defaults", () => {
    expect(
      bloomFilterColumns(schema, {
        'write.parquet.bloom-filter-enabled.column.event_id': 'true',
        'write.parquet.bloom-filter-enabled.column.n': 'false',
        'write.parquet.bloom-filter-enabled.column.missing': 'true',
      }),
    ).toEqual(new Map([['event_id', { fpp: 0.01, maxBytes: 1024 * 1024 }]]));
    expect(
      bloomFilterColumns(schema, {
        'write.parquet.bloom-filter-enabled.column.n': 'TRUE',
        'write.parquet.bloom-filter-fpp.column.n': '0.001',
        'write.parquet.bloom-filter-max-bytes': '4096',
      }),
    ).toEqual(new Map([['n', { fpp: 0.001, maxBytes: 4096 }]]));
    expect(() =>
      bloomFilterColumns(schema, {
        'write.parquet.bloom-filter-enabled.column.n': 'true',
        'write.parquet.bloom-filter-fpp.column.n': '2',
      }),
    ).toThrow(/not in \(0, 1\)/);
  });
});

describe('interop with DuckDB', () => {
  let duckdb: DuckDB;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    duckdb = await openDuckDB();
    tmp = await tempDir('floe-bloom');
  });
  afterAll(async () => {
    duckdb?.close();
    await tmp?.cleanup();
  });

  const probe = async (file: string, column: string, literal: string) =>
    (
      await duckdb.rows(
        `SELECT row_group_id, bloom_filter_excludes FROM parquet_bloom_probe('${file}', '${column}', ${literal}) ORDER BY row_group_id`,
      )
    ).map((r) => r.bloom_filter_excludes as boolean);

  it('DuckDB evaluates the filters floe writes exactly as floe does, and they hold every written value', async () => {
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [
        { id: 1, name: 'event_id', required: true, type: 'string' },
        { id: 2, name: 'n', required: false, type: 'long' },
        { id: 3, name: 'i', required: false, type: 'int' },
        { id: 4, name: 'ts', required: false, type: 'timestamptz' },
        { id: 5, name: 'note', required: false, type: 'string' },
      ],
    });
    const rows = Array.from({ length: 3000 }, (_, k) => ({
      event_id: `evt-${k}-ä`,
      n: BigInt(k) * 7n - 5000n,
      i: k * 3,
      ts: 1_700_000_000_000_000n + BigInt(k) * 1_000_000n,
      note: null,
    }));
    const properties: Record<string, string> = { 'write.parquet.bloom-filter-max-bytes': '8192' };
    for (const c of ['event_id', 'n', 'i', 'ts', 'note'])
      properties[`write.parquet.bloom-filter-enabled.column.${c}`] = 'true';
    const { bytes } = await writeDataFile(schema, rows, { metricsConfig: properties, rowGroupSize: 1000 });
    const file = path.join(tmp.dir, 'floe-bloom.parquet');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, bytes));

    const chunks = await duckdb.rows(
      `SELECT path_in_schema, row_group_id, bloom_filter_offset, bloom_filter_length FROM parquet_metadata('${file}')`,
    );
    // every chunk of the four columns with values has a filter; the all-null column has none
    expect(chunks.filter((c) => c.bloom_filter_offset !== null)).toHaveLength(12);
    expect(chunks.filter((c) => c.path_in_schema === 'note').every((c) => c.bloom_filter_offset === null)).toBe(true);

    const filters = await readBloomFilters(bytes, { location: file, fieldIds: [1, 2, 3, 4] });
    expect(filters.rowGroups).toHaveLength(3);
    const cases: { column: string; id: number; value: unknown; literal: string }[] = [];
    for (const k of [0, 999, 1000, 2999, 3000, 4711, -1]) {
      cases.push({ column: 'event_id', id: 1, value: `evt-${k}-ä`, literal: `'evt-${k}-ä'` });
      cases.push({ column: 'n', id: 2, value: BigInt(k) * 7n - 5000n, literal: `${BigInt(k) * 7n - 5000n}::BIGINT` });
      cases.push({ column: 'i', id: 3, value: k * 3, literal: `${k * 3}::INTEGER` });
      const micros = 1_700_000_000_000_000n + BigInt(k) * 1_000_000n;
      cases.push({ column: 'ts', id: 4, value: micros, literal: `make_timestamptz(${micros})` });
    }
    for (const { column, id, value, literal } of cases) {
      const ours = filters.rowGroups.map(
        (g) => !g.filters.get(id)!.mightContainHash(bloomHash(value, filters.elements.get(id)!)!),
      );
      expect(await probe(file, column, literal), `${column} = ${literal}`).toEqual(ours);
    }
    // a written value is never excluded from its row group
    for (let k = 0; k < 3000; k += 37) {
      const group = filters.rowGroups[Math.floor(k / 1000)];
      const hash = bloomHash(rows[k].event_id, filters.elements.get(1)!)!;
      expect(group.filters.get(1)!.mightContainHash(hash)).toBe(true);
    }
  });

  it("reads the filters DuckDB wrote into a fixture table's files, holding the files' values", async () => {
    const relative =
      'duckdb-iceberg/data/persistent/partition_integer/data/partition_col=42/00000-2-1d10e455-d07e-4124-8f4b-52bd010a806d-00001.parquet';
    const bytes = fixtureBytes(relative);
    const footer = await readDataFileMetadata(bytes, { location: relative });
    expect(footer.createdBy).toMatch(/^DuckDB/);
    const schema = tableSchema('duckdb-iceberg/data/persistent/partition_integer/metadata/v2.metadata.json');
    const filters = await readBloomFilters(bytes, { location: relative, fieldIds: [2, 3] });
    expect([...filters.rowGroups[0].filters.values()].every((f) => f !== undefined)).toBe(true);
    const rows = await readDataFile(bytes, { location: relative, schema });
    for (const row of rows) {
      for (const [id, name] of [
        [2, 'user_id'],
        [3, 'event_type'],
      ] as const) {
        expect(
          filters.rowGroups[0].filters.get(id)!.mightContainHash(bloomHash(row[name], filters.elements.get(id)!)!),
        ).toBe(true);
        expect(
          await probe(
            fixturePath(relative),
            name,
            typeof row[name] === 'string' ? `'${row[name]}'` : String(row[name]),
          ),
        ).toEqual([false]);
      }
    }
    expect(
      filters.rowGroups[0].filters.get(3)!.mightContainHash(bloomHash('no-such-event', filters.elements.get(3)!)!),
    ).toBe(!(await probe(fixturePath(relative), 'event_type', `'no-such-event'`))[0]);
  });

  it('reads the filters of a file DuckDB writes now (strings, bigints, uuids) and finds every value', async () => {
    const file = path.join(tmp.dir, 'duckdb-bloom.parquet');
    await duckdb.rows(
      // DuckDB writes filters for dictionary-encoded chunks: values that repeat
      `COPY (SELECT 'key-' || (i % 700) AS s, (i % 900) * 1000003 AS b,
               ('00000000-0000-4000-8000-' || lpad((i % 300)::VARCHAR, 12, '0'))::UUID AS u FROM range(5000) t(i))
       TO '${file}' (FORMAT parquet, FIELD_IDS {s: 1, b: 2, u: 3})`,
    );
    const bytes = new Uint8Array(readFileSync(file));
    const filters = await readBloomFilters(bytes, { location: file, fieldIds: [1, 2, 3] });
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [
        { id: 1, name: 's', required: false, type: 'string' },
        { id: 2, name: 'b', required: false, type: 'long' },
        { id: 3, name: 'u', required: false, type: 'uuid' },
      ],
    });
    const rows = await readDataFile(bytes, { location: file, schema });
    expect(rows).toHaveLength(5000);
    let checked = 0;
    let start = 0;
    for (const group of filters.rowGroups) {
      for (const row of rows.slice(start, start + group.rowCount)) {
        for (const [id, name] of [
          [1, 's'],
          [2, 'b'],
          [3, 'u'],
        ] as const) {
          const filter = group.filters.get(id);
          if (!filter) continue;
          expect(
            filter.mightContainHash(bloomHash(row[name], filters.elements.get(id)!)!),
            `${name}=${String(row[name])}`,
          ).toBe(true);
          checked++;
        }
      }
      start += group.rowCount;
    }
    expect(filters.rowGroups[0].filters.get(1)).toBeDefined();
    expect(filters.rowGroups[0].filters.get(2)).toBeDefined();
    expect(filters.rowGroups[0].filters.get(3)).toBeDefined();
    expect(checked).toBeGreaterThanOrEqual(10_000);
    // and an absent key is excluded from most row groups, as DuckDB itself says
    const absent = bloomHash('key-absent', filters.elements.get(1)!)!;
    expect(filters.rowGroups.map((g) => !g.filters.get(1)!.mightContainHash(absent))).toEqual(
      await probe(file, 's', `'key-absent'`),
    );
  });
});
