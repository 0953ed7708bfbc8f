import avsc from 'avsc';
import { init as initZstd, compress as zstdCompress } from '@bokuweb/zstd-wasm';
import { isDeepStrictEqual } from 'node:util';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  readAvro,
  readAvroHeader,
  writeAvro,
  type AvroComplexSchema,
  type IdRecord,
} from '../../shared/iceberg/avro.ts';
import { IcebergFormatError } from '../../shared/iceberg/schema.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { avroFixtures, decodeWithAvsc, fixture, isManifestList } from './avro-fixtures.ts';

const SCHEMA: AvroComplexSchema = {
  type: 'record',
  name: 'thing',
  fields: [
    { name: 'id', type: 'long', 'field-id': 1 },
    { name: 'name', type: ['null', 'string'], default: null, 'field-id': 2 },
    { name: 'Breed Name', type: ['null', 'double'], default: null, 'field-id': 3 }, // not a valid avsc name
    { name: 'größe', type: ['null', 'int'], default: null, 'field-id': 4 },
    { name: 'payload', type: 'bytes', 'field-id': 5 },
    { name: 'digest', type: { type: 'fixed', name: 'fixed_4', size: 4 }, 'field-id': 6 },
    { name: 'other_digest', type: ['null', 'fixed_4'], default: null, 'field-id': 7 },
    {
      name: 'offsets',
      type: ['null', { type: 'array', items: 'long', 'element-id': 9 }],
      default: null,
      'field-id': 8,
    },
    {
      name: 'sizes',
      type: [
        'null',
        {
          type: 'array',
          items: {
            type: 'record',
            name: 'k11_v12',
            fields: [
              { name: 'key', type: 'int', 'field-id': 11 },
              { name: 'value', type: 'long', 'field-id': 12 },
            ],
          },
          logicalType: 'map',
        },
      ],
      default: null,
      'field-id': 10,
    },
    { name: 'props', type: { type: 'map', values: 'string', 'key-id': 14, 'value-id': 15 }, 'field-id': 13 },
    {
      name: 'nested',
      type: { type: 'record', name: 'r16', fields: [{ name: 'flag', type: 'boolean', 'field-id': 17 }] },
      'field-id': 16,
    },
  ],
};

/** An IdRecord from an object literal keyed by field id (shallow). */
const ids = (fields: Record<number, unknown>): IdRecord =>
  new Map(Object.entries(fields).map(([id, value]) => [Number(id), value]));

function thing(i: number): IdRecord {
  return ids({
    1: 9_223_372_036_854_775_807n - BigInt(i),
    2: i % 3 ? `name-${i}` : null,
    3: i % 2 ? i / 4 : null,
    4: i ? -i : 0, // (no -0: Avro ints have no negative zero)
    5: Uint8Array.of(i % 256, 1, 2),
    6: Uint8Array.of(1, 2, 3, i % 256),
    7: i % 2 ? Uint8Array.of(9, 9, 9, 9) : null,
    8: i % 5 ? [BigInt(i), 4n] : null,
    9: 'not in the schema',
    10: new Map([
      [i, BigInt(i) * 1000n],
      [-1, 0n],
    ]),
    13: new Map([['k', `v${i}`]]),
    16: ids({ 17: i % 2 === 0 }),
  });
}

/** What reading gives back for `thing(i)`: ids the schema does not have are absent. */
function expected(i: number): IdRecord {
  const record = thing(i);
  record.delete(9);
  return record;
}

describe('readAvro on every real fixture', () => {
  const files = avroFixtures();
  it('finds the fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(60);
  });

  it.each(files)('decodes %s by field id', (relative) => {
    const file = readAvro(fixture(relative), relative);
    expect(file.records.length).toBeGreaterThan(0);
    expect(['null', 'deflate']).toContain(file.metadata['avro.codec']);
    expect(JSON.parse(file.metadata['avro.schema'])).toEqual(file.schema);
    for (const record of file.records) {
      expect([...record.keys()].every(Number.isInteger)).toBe(true);
      if (isManifestList(relative)) {
        expect(typeof record.get(500)).toBe('string');
        expect(typeof record.get(503)).toBe('bigint');
      } else {
        expect(typeof (record.get(2) as IdRecord).get(100)).toBe('string');
      }
    }
  });

  it('keeps 64-bit ids exact', () => {
    const list = 'icebird/snap-8656952484400131532-1-a85973e4-4009-4cba-875e-5278a2c6027d.avro';
    expect(readAvro(fixture(list), list).records[0].get(503)).toBe(8656952484400131532n);
  });

  it('reads DuckDB boxed primitive schemas ({"type":"long"})', () => {
    const list = 'iceberg-go/duckdb_v3_manifest_list.avro';
    const file = readAvro(fixture(list), list);
    expect(file.records.map((r) => [typeof r.get(501), r.get(517), typeof r.get(520)])).toEqual([
      ['bigint', 0, 'bigint'],
      ['bigint', 1, 'bigint'],
    ]);
  });
});

describe('writeAvro', () => {
  it('round-trips records by field id through null and deflate', () => {
    const records = Array.from({ length: 5 }, (_, i) => thing(i));
    for (const codec of ['null', 'deflate'] as const) {
      const bytes = writeAvro({ schema: SCHEMA, records, metadata: { 'format-version': '2', note: 'ünïcode' }, codec });
      const file = readAvro(bytes, 'mem://thing.avro');
      expect(file.records).toEqual(records.map((_, i) => expected(i)));
      expect(file.metadata).toMatchObject({ 'avro.codec': codec, 'format-version': '2', note: 'ünïcode' });
      expect(file.metadata['avro.schema']).toBe(stringifyJson(SCHEMA)); // verbatim, attributes included
      expect(file.schema).toEqual(SCHEMA);
    }
  });

  it('writes longs exactly across the whole 64-bit range, from bigint or safe-integer numbers', () => {
    const schema: AvroComplexSchema = {
      type: 'record',
      name: 'n',
      fields: [{ name: 'v', type: 'long', 'field-id': 1 }],
    };
    const values = [
      0n,
      -1n,
      1n,
      63n,
      -64n,
      2n ** 49n,
      -(2n ** 52n),
      2n ** 52n - 1n,
      2n ** 53n + 1n,
      -(2n ** 63n),
      2n ** 63n - 1n,
    ];
    const numbers = [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 52, -(2 ** 52) - 1, 123456789];
    const records = [...values, ...numbers].map((v) => ids({ 1: v }));
    const read = readAvro(writeAvro({ schema, records }), 'mem://longs.avro').records.map((r) => r.get(1));
    expect(read).toEqual([...values, ...numbers.map(BigInt)]);
    expect(() => writeAvro({ schema, records: [ids({ 1: 2n ** 63n })] })).toThrow(/does not match/);
    expect(() => writeAvro({ schema, records: [ids({ 1: 2 ** 53 })] })).toThrow(/does not match/);
  });

  it('splits large files into several blocks', () => {
    const records = Array.from({ length: 3000 }, (_, i) => thing(i));
    const bytes = writeAvro({ schema: SCHEMA, records });
    // node's deep equality: vitest's toEqual is slow on thousands of records
    expect(
      isDeepStrictEqual(
        readAvro(bytes, 'mem://big.avro').records,
        records.map((_, i) => expected(i)),
      ),
    ).toBe(true);
    const syncMarker = Buffer.from(bytes).subarray(-16);
    let blocks = 0;
    for (let at = Buffer.from(bytes).indexOf(syncMarker); at >= 0; at = Buffer.from(bytes).indexOf(syncMarker, at + 1))
      blocks++;
    expect(blocks - 1).toBeGreaterThan(1); // the header holds one sync marker, every block another
  });

  it('writes a header and blocks avsc reads on its own', async () => {
    const plain: AvroComplexSchema = {
      type: 'record',
      name: 'row',
      fields: [
        { name: 'id', type: 'long', 'field-id': 1 },
        {
          name: 'tags',
          type: ['null', { type: 'array', items: 'string', 'element-id': 3 }],
          default: null,
          'field-id': 2,
        },
      ],
    };
    const bytes = writeAvro({
      schema: plain,
      records: [ids({ 1: 8656952484400131532n, 2: ['a', 'b'] }), ids({ 1: -1n, 2: null })],
      metadata: { k: 'v' },
    });
    const { header, records } = await decodeWithAvsc(bytes);
    expect(records.map((r) => ({ ...r }))).toEqual([
      { id: 8656952484400131532n, tags: ['a', 'b'] },
      { id: -1n, tags: null },
    ]);
    expect(header).toMatchObject({ k: 'v', 'avro.codec': 'deflate' });
    expect(JSON.parse(header['avro.schema']).fields[1].type[1]['element-id']).toBe(3);
  });

  it('writes an empty file as a header without blocks', () => {
    const bytes = writeAvro({ schema: SCHEMA, records: [] });
    expect(readAvro(bytes, 'mem://empty.avro').records).toEqual([]);
    expect(readAvroHeader(bytes, 'mem://empty.avro').schema).toEqual(SCHEMA);
  });

  it('names a missing required field and a field without id', () => {
    const missing = thing(1);
    missing.delete(5);
    expect(() => writeAvro({ schema: SCHEMA, records: [missing] })).toThrow(/required field 'payload' \(id 5\)/);
    const noId: AvroComplexSchema = { type: 'record', name: 'x', fields: [{ name: 'a', type: 'int' }] };
    expect(() => writeAvro({ schema: noId, records: [new Map()] })).toThrow(/no field-id/);
    expect(() => writeAvro({ schema: SCHEMA, records: [thing(1).set(4, 'not an int')] })).toThrow(
      /does not match its Avro schema at größe="not an int"/,
    );
    expect(() => writeAvro({ schema: SCHEMA, records: [thing(1).set(10, new Map([[1, 'x']]))] })).toThrow(
      /at sizes\.0\.value="x"/,
    );
    expect(() => writeAvro({ schema: SCHEMA, records: [{ 1: 2n } as unknown as IdRecord] })).toThrow(
      /must be given as a Map keyed by field id/,
    );
  });
});

/** A container built with avsc types and the Avro spec's framing only: one block, given codec and compressor. */
function container(
  codec: string,
  compress: (raw: Buffer) => Buffer,
): { bytes: Uint8Array; rows: Record<string, unknown>[] } {
  const schema = {
    type: 'record',
    name: 'r',
    fields: [
      { name: 's', type: 'string', 'field-id': 1 },
      { name: 'n', type: 'int', 'field-id': 2 },
    ],
  };
  const type = avsc.Type.forSchema(schema as avsc.Schema);
  const rows = Array.from({ length: 300 }, (_, i) => ({ s: `row ${i} `.repeat(5), n: i }));
  const raw = Buffer.concat(rows.map((r) => type.toBuffer(r)));
  const long = avsc.Type.forSchema('long');
  const sync = Buffer.alloc(16, 7);
  const meta = avsc.Type.forSchema({ type: 'map', values: 'bytes' }).toBuffer({
    'avro.schema': Buffer.from(JSON.stringify(schema)),
    'avro.codec': Buffer.from(codec),
  });
  const data = compress(raw);
  const bytes = Buffer.concat([
    Buffer.from('Obj\x01', 'latin1'),
    meta,
    sync,
    long.toBuffer(rows.length),
    long.toBuffer(data.length),
    data,
    sync,
  ]);
  return { bytes: new Uint8Array(bytes), rows };
}

/** Raw snappy made of literal elements only (valid per the snappy format), then Avro's big-endian CRC32. */
function snappyLiterals(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let n = raw.length;
  const varint: number[] = [];
  do {
    varint.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n);
  parts.push(Buffer.from(varint));
  for (let at = 0; at < raw.length; at += 60) {
    const chunk = raw.subarray(at, at + 60);
    parts.push(Buffer.from([(chunk.length - 1) << 2]), chunk);
  }
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32BE(crc32(raw));
  return Buffer.concat([...parts, checksum]);
}

describe('readAvro codecs', () => {
  const byId = (rows: Record<string, unknown>[]) => rows.map((r) => ids({ 1: r.s, 2: r.n }));

  it('reads deflate written by another encoder', () => {
    const { bytes, rows } = container('deflate', (raw) => deflateRawSync(raw));
    expect(readAvro(bytes, 'mem://deflate.avro').records).toEqual(byId(rows));
  });

  it('reads snappy and checks its CRC', () => {
    const { bytes, rows } = container('snappy', snappyLiterals);
    expect(readAvro(bytes, 'mem://snappy.avro').records).toEqual(byId(rows));
    const bad = container('snappy', (raw) => {
      const block = snappyLiterals(raw);
      block[block.length - 1] ^= 1;
      return block;
    });
    expect(() => readAvro(bad.bytes, 'mem://bad-snappy.avro')).toThrow(/mem:\/\/bad-snappy\.avro.*checksum/);
  });

  it('reads zstandard', async () => {
    await initZstd();
    const { bytes, rows } = container('zstandard', (raw) => Buffer.from(zstdCompress(raw, 3)));
    expect(readAvro(bytes, 'mem://zstd.avro').records).toEqual(byId(rows));
  });

  it('names an unsupported codec', () => {
    const { bytes } = container('bzip2', (raw) => raw);
    expect(() => readAvro(bytes, 'mem://bz.avro')).toThrow(
      /mem:\/\/bz\.avro: cannot decompress Avro block 0 \(bzip2\).*unsupported Avro codec/,
    );
  });
});

describe('damaged files', () => {
  const relative =
    'icebird/hyperparam-iceberg/java/bunnies/metadata/snap-9158179788527662767-1-a01399a1-e864-4562-b921-c8cb56e6e4a9.avro';
  const good = fixture(relative);
  const location = 's3://bucket/table/metadata/snap.avro';
  const expectFormatError = (bytes: Uint8Array, pattern: RegExp) => {
    let error: unknown;
    try {
      readAvro(bytes, location);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(IcebergFormatError);
    expect((error as Error).message).toContain(location);
    expect((error as Error).message).toMatch(pattern);
  };

  it('rejects a file that is not Avro', () => {
    expectFormatError(new TextEncoder().encode('PAR1 not avro'), /bad magic/);
    expectFormatError(new Uint8Array(0), /bad magic/);
  });

  it('rejects every truncation of a real manifest list with an error naming the file', () => {
    // Avro stores no record count: a cut exactly between blocks is a valid, shorter file (here: after the header, which
    // reads as an empty list). Nothing in Iceberg catches that reliably: `manifest_length` in the PyIceberg-written
    // fixture lists differs from the real file sizes, so readers cannot insist on it.
    const headerEnd = Buffer.from(good).indexOf(Buffer.from(good).subarray(-16)) + 16;
    for (let cut = 0; cut < good.length; cut++) {
      if (cut === headerEnd) expect(readAvro(good.subarray(0, cut), location).records).toEqual([]);
      else expectFormatError(good.subarray(0, cut), /bad magic|truncated|corrupt|decompress/);
    }
  });

  it('rejects a damaged sync marker, compressed block or trailing garbage', () => {
    const badSync = good.slice();
    badSync[badSync.length - 1] ^= 0xff;
    expectFormatError(badSync, /sync marker mismatch/);
    const header = readAvroHeader(good, location);
    const blockStart = Buffer.from(good).indexOf(Buffer.from(good).subarray(-16)) + 16; // after the header's sync
    const garbage = good.slice();
    garbage.fill(0xff, blockStart + 4, good.length - 16); // deflate block type 3 does not exist
    expect(header.metadata['avro.codec']).toBe('deflate');
    expectFormatError(garbage, /cannot decompress Avro block 0/);
    expectFormatError(Uint8Array.from([...good, 2, 4, 6]), /truncated Avro block 1/);
  });

  it('rejects a block that holds fewer or more records than it claims', () => {
    const plain = writeAvro({ schema: SCHEMA, records: [thing(1), thing(2)], codec: 'null' });
    const headerEnd = Buffer.from(plain).indexOf(Buffer.from(plain).subarray(-16)) + 16;
    const fewer = plain.slice();
    fewer[headerEnd] = 2; // zig-zag 1: one record where two are stored
    expectFormatError(fewer, /bytes left after 1 records/);
    const more = plain.slice();
    more[headerEnd] = 6; // zig-zag 3
    expectFormatError(more, /record 2 in Avro block 0/);
  });

  it('rejects a header whose schema is not JSON or not Avro', () => {
    const meta = (schema: string) =>
      avsc.Type.forSchema({ type: 'map', values: 'bytes' }).toBuffer({ 'avro.schema': Buffer.from(schema) });
    const file = (schema: string) =>
      new Uint8Array(Buffer.concat([Buffer.from('Obj\x01', 'latin1'), meta(schema), Buffer.alloc(16)]));
    expectFormatError(file('{not json'), /avro.schema is not valid JSON/);
    expectFormatError(
      file('{"type":"record","name":"x","fields":[{"name":"a","type":"nosuch"}]}'),
      /unsupported Avro schema.*nosuch/,
    );
  });
});
