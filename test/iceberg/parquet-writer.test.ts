import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareValues, toBinary } from '../../shared/iceberg/conversions.ts';
import { metricsModes, parseMetricsMode } from '../../shared/iceberg/column-metrics.ts';
import { readDataFile, readDataFileMetadata } from '../../shared/iceberg/parquet-reader.ts';
import { parquetName } from '../../shared/iceberg/parquet-schema.ts';
import {
  encodeParquetRaw,
  InvalidRowError,
  layOutRows,
  parseCompression,
  parseCompressionLevel,
  rowProblem,
  writeDataFile,
} from '../../shared/iceberg/parquet-writer.ts';
import {
  IcebergFormatError,
  isList,
  isMap,
  isStruct,
  schemaFromJson,
  schemaToJson,
} from '../../shared/iceberg/schema.ts';
import type { IcebergType, PrimitiveType, Schema } from '../../shared/iceberg/types.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { tempDir } from '../helpers/tmp.ts';
import { canonical, canonicalSql, openDuckDB, sqlString, type DuckDB } from './parquet-fixtures.ts';

/** Every primitive type, nested struct/list/map, optional and required, and a name Java sanitizes. */
const ALL_TYPES: Schema = schemaFromJson({
  type: 'struct',
  'schema-id': 3,
  'identifier-field-ids': [2],
  fields: [
    { id: 1, name: 'b', required: false, type: 'boolean' },
    { id: 2, name: 'i', required: true, type: 'int' },
    { id: 3, name: 'l', required: false, type: 'long' },
    { id: 4, name: 'f', required: false, type: 'float' },
    { id: 5, name: 'd', required: false, type: 'double' },
    { id: 6, name: 'dt', required: false, type: 'date' },
    { id: 7, name: 't', required: false, type: 'time' },
    { id: 8, name: 'ts', required: false, type: 'timestamp' },
    { id: 9, name: 'tstz', required: false, type: 'timestamptz' },
    { id: 10, name: 's', required: false, type: 'string' },
    { id: 11, name: 'u', required: false, type: 'uuid' },
    { id: 12, name: 'bin', required: false, type: 'binary' },
    { id: 13, name: 'fx', required: false, type: 'fixed[4]' },
    { id: 14, name: 'dec9', required: false, type: 'decimal(9, 2)' },
    { id: 15, name: 'dec18', required: false, type: 'decimal(18, 6)' },
    { id: 16, name: 'dec38', required: false, type: 'decimal(38, 10)' },
    {
      id: 17,
      name: 'st',
      required: false,
      type: {
        type: 'struct',
        fields: [
          { id: 18, name: 'a', required: true, type: 'int' },
          { id: 19, name: 'b', required: false, type: 'string' },
          {
            id: 20,
            name: 'inner',
            required: false,
            type: { type: 'struct', fields: [{ id: 21, name: 'x', required: false, type: 'double' }] },
          },
        ],
      },
    },
    {
      id: 22,
      name: 'tags',
      required: false,
      type: { type: 'list', 'element-id': 23, 'element-required': false, element: 'string' },
    },
    {
      id: 24,
      name: 'points',
      required: false,
      type: {
        type: 'list',
        'element-id': 25,
        'element-required': true,
        element: {
          type: 'struct',
          fields: [
            { id: 26, name: 'k', required: true, type: 'long' },
            { id: 27, name: 'v', required: false, type: 'double' },
          ],
        },
      },
    },
    {
      id: 28,
      name: 'attrs',
      required: false,
      type: { type: 'map', 'key-id': 29, key: 'string', 'value-id': 30, 'value-required': false, value: 'int' },
    },
    {
      id: 31,
      name: 'by_id',
      required: false,
      type: {
        type: 'map',
        'key-id': 32,
        key: 'int',
        'value-id': 33,
        'value-required': true,
        value: {
          type: 'struct',
          fields: [{ id: 34, name: 'u', required: false, type: 'uuid' }],
        },
      },
    },
    { id: 35, name: 'Breed Name', required: false, type: 'string' },
    { id: 36, name: 'tsns', required: false, type: 'timestamptz_ns' },
  ],
});

const uuidA = 'f79c3e09-677c-4bbd-a479-3f349cb785e7';
const uuidB = '00000000-0000-0000-0000-000000000001';

const ROWS: Record<string, unknown>[] = [
  {
    b: true,
    i: 2147483647,
    l: 9223372036854775807n,
    f: Math.fround(1.1),
    d: -0,
    dt: 19723,
    t: 86_399_999_999n,
    ts: 1_700_000_000_123_456n,
    tstz: -1n,
    s: 'héllo 🐇',
    u: uuidA,
    bin: new Uint8Array([0, 255, 1]),
    fx: new Uint8Array([1, 2, 3, 4]),
    dec9: 999_999_999n,
    dec18: -123_456_789_012_345_678n,
    dec38: 12_345_678_901_234_567_890_123_456_789_012_345_678n,
    st: { a: 1, b: 'x', inner: { x: NaN } },
    tags: ['a', null, 'c'],
    points: [
      { k: 1n, v: 0.5 },
      { k: -2n, v: null },
    ],
    attrs: new Map([
      ['one', 1],
      ['none', null],
    ]),
    by_id: new Map([[7, { u: uuidB }]]),
    'Breed Name': 'Holland Lop',
    tsns: 1_700_000_000_123_456_789n,
  },
  {
    b: false,
    i: -2147483648,
    l: -9223372036854775808n,
    f: -Infinity,
    d: 0,
    dt: -1,
    t: 0n,
    ts: -62_135_596_800_000_000n,
    tstz: 0n,
    s: '',
    u: uuidB,
    bin: new Uint8Array(),
    fx: new Uint8Array([255, 255, 255, 255]),
    dec9: -1n,
    dec18: 0n,
    dec38: -99_999_999_999_999_999_999_999_999_999_999_999_999n,
    st: { a: -5, b: null, inner: null },
    tags: [],
    points: [],
    attrs: new Map(),
    by_id: new Map(),
    'Breed Name': null,
    tsns: -1n,
  },
  { i: 0, st: null, tags: null, points: null, attrs: null, by_id: null, d: NaN, f: NaN },
  { i: 42, d: Number.MAX_VALUE, f: Math.fround(-2.5), s: 'zzzz', tags: [null], st: { a: 3 } },
];

/** Undefined and missing fields read back as null; nested structs too. */
function expectedRow(schema: { fields: Schema['fields'] }, row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of schema.fields) out[field.name] = expectedValue(field.type, row[field.name]);
  return out;
}

function expectedValue(type: IcebergType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (isStruct(type)) return expectedRow(type, value as Record<string, unknown>);
  if (isList(type)) return (value as unknown[]).map((v) => expectedValue(type.element, v));
  if (isMap(type))
    return new Map(
      [...(value as Map<unknown, unknown>)].map(([k, v]) => [expectedValue(type.key, k), expectedValue(type.value, v)]),
    );
  return value;
}

let duck: DuckDB;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  duck = await openDuckDB();
  ({ dir, cleanup } = await tempDir('floe-parquet-writer'));
});
afterAll(async () => {
  duck.close();
  await cleanup();
});

async function saved(name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

describe('writeDataFile: round trip', () => {
  it('reads back every type identically with our reader (bigint µs, decimals, uuids, binary, NaN, −0.0, nulls)', async () => {
    const { bytes, metrics } = await writeDataFile(ALL_TYPES, ROWS);
    const rows = await readDataFile(bytes, { location: 'all-types', schema: ALL_TYPES });
    expect(rows).toEqual(ROWS.map((r) => expectedRow(ALL_TYPES, r)));
    expect(Object.is(rows[0].d, -0)).toBe(true);
    expect(Object.is(rows[1].d, 0)).toBe(true);
    expect(Number.isNaN((rows[0].st as { inner: { x: number } }).inner.x)).toBe(true);
    expect(metrics.recordCount).toBe(4);
    expect(metrics.fileSizeInBytes).toBe(bytes.byteLength);
  });

  it.each(['zstd', 'snappy', 'gzip', 'none'] as const)(
    'writes %s files that DuckDB and our reader both read',
    async (compression) => {
      const { bytes } = await writeDataFile(ALL_TYPES, ROWS, { compression });
      const file = await saved(`codec-${compression}.parquet`, bytes);
      const codecs = await duck.rows(`select distinct compression from parquet_metadata(${sqlString(file)})`);
      expect(codecs.map((r) => r.compression)).toEqual([
        { zstd: 'ZSTD', snappy: 'SNAPPY', gzip: 'GZIP', none: 'UNCOMPRESSED' }[compression],
      ]);
      expect(await readDataFile(bytes, { location: file, schema: ALL_TYPES })).toHaveLength(ROWS.length);
      expect(await duck.rows(`select count(*)::INTEGER n from read_parquet(${sqlString(file)})`)).toEqual([
        { n: ROWS.length },
      ]);
    },
  );

  it("puts a field id on every column DuckDB sees, with Iceberg's Parquet types", async () => {
    const { bytes } = await writeDataFile(ALL_TYPES, ROWS);
    const file = await saved('all-types.parquet', bytes);
    const elements = await duck.rows(
      `select name, type, field_id, logical_type, converted_type, repetition_type, type_length from parquet_schema(${sqlString(file)})`,
    );
    // top-level names are unique; nested `b`/`u` repeat them, so look columns up by field id
    const byName = new Map(ALL_TYPES.fields.map((f) => [f.name, elements.find((e) => e.field_id === String(f.id))!]));
    // the root and the repeated middle levels of 3-level lists/maps carry no id (as Java writes them); all else does
    const unnumbered = elements.filter((e) => e.field_id === null).map((e) => e.name);
    expect(unnumbered).toEqual(['table', 'list', 'list', 'key_value', 'key_value']);
    const ids = elements
      .filter((e) => e.field_id !== null)
      .map((e) => Number(e.field_id))
      .sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 36 }, (_, i) => i + 1));
    const expectType = (name: string, type: string | null, logical: RegExp | null, converted: string | null = null) => {
      const element = byName.get(name)!;
      expect(element.type, name).toBe(type);
      if (logical) expect(String(element.logical_type), name).toMatch(logical);
      else expect(element.logical_type, name).toBeNull();
      expect(element.converted_type, name).toBe(converted);
    };
    expectType('b', 'BOOLEAN', null);
    expectType('i', 'INT32', null);
    expectType('l', 'INT64', null);
    expectType('f', 'FLOAT', null);
    expectType('d', 'DOUBLE', null);
    expectType('dt', 'INT32', /DateType/, 'DATE');
    expectType('t', 'INT64', /TimeType\(isAdjustedToUTC=0.*MICROS=MicroSeconds/);
    expectType('ts', 'INT64', /TimestampType\(isAdjustedToUTC=0.*MICROS=MicroSeconds/);
    expectType('tstz', 'INT64', /TimestampType\(isAdjustedToUTC=1.*MICROS=MicroSeconds/, 'TIMESTAMP_MICROS');
    expectType('tsns', 'INT64', /TimestampType\(isAdjustedToUTC=1.*NANOS=NanoSeconds/);
    expectType('s', 'BYTE_ARRAY', /StringType/, 'UTF8');
    expectType('u', 'FIXED_LEN_BYTE_ARRAY', /UUIDType/);
    expectType('bin', 'BYTE_ARRAY', null);
    expectType('fx', 'FIXED_LEN_BYTE_ARRAY', null);
    expectType('dec9', 'INT32', /DecimalType\(scale=2, precision=9\)/, 'DECIMAL');
    expectType('dec18', 'INT64', /DecimalType\(scale=6, precision=18\)/, 'DECIMAL');
    expectType('dec38', 'FIXED_LEN_BYTE_ARRAY', /DecimalType\(scale=10, precision=38\)/, 'DECIMAL');
    expect(byName.get('dec38')!.type_length).toBe('16');
    expect(byName.get('fx')!.type_length).toBe('4');
    expectType('tags', null, /ListType/, 'LIST');
    expectType('attrs', null, /MapType/, 'MAP');
    expect(byName.get('Breed Name')!.name).toBe('Breed_x20Name');
    expect(byName.get('i')!.repetition_type).toBe('REQUIRED');
    expect(byName.get('b')!.repetition_type).toBe('OPTIONAL');
  });

  it('writes values DuckDB reads as the same values', async () => {
    const { bytes } = await writeDataFile(ALL_TYPES, ROWS);
    const file = await saved('values.parquet', bytes);
    const primitive = ALL_TYPES.fields.filter(
      (f) => typeof f.type === 'string' && !['f', 'd', 'tsns'].includes(f.name),
    );
    const select = primitive.map((f) => `${canonicalSql(parquetName(f.name), f.type)} AS "f${f.id}"`).join(', ');
    const duckRows = await duck.rows(`select ${select} from read_parquet(${sqlString(file)})`);
    expect(duckRows).toEqual(
      ROWS.map((row) => Object.fromEntries(primitive.map((f) => [`f${f.id}`, canonical(row[f.name] ?? null, f.type)]))),
    );
    // floats/doubles and nanosecond timestamps as text, nested columns as JSON
    const special =
      await duck.rows(`select f::DOUBLE::VARCHAR f, d::VARCHAR d, epoch_ns(tsns)::VARCHAR tsns, to_json(st)::VARCHAR st, to_json(tags)::VARCHAR tags,
      to_json(points)::VARCHAR points, to_json(map_entries(attrs))::VARCHAR attrs, by_id[7].u::VARCHAR by7 from read_parquet(${sqlString(file)})`);
    expect(special[0]).toEqual({
      // DuckDB has no nanosecond TIMESTAMPTZ: it reads TIMESTAMP(NANOS, UTC) at µs precision
      f: String(Math.fround(1.1)),
      d: '-0.0',
      tsns: '1700000000123456000',
      st: '{"a":1,"b":"x","inner":{"x":NaN}}',
      tags: '["a",null,"c"]',
      points: '[{"k":1,"v":0.5},{"k":-2,"v":null}]',
      attrs: '[{"key":"one","value":1},{"key":"none","value":null}]',
      by7: uuidB,
    });
    expect(special[1]).toMatchObject({
      f: '-inf',
      d: '0.0',
      st: '{"a":-5,"b":null,"inner":null}',
      tags: '[]',
      points: '[]',
      attrs: '[]',
      by7: null,
    });
    expect(special[2]).toMatchObject({ f: 'nan', d: 'nan', st: null, tags: null, points: null, attrs: null });
    expect(special[3]).toMatchObject({ f: '-2.5', tags: '[null]', st: '{"a":3,"b":null,"inner":null}' });
  });

  it('stores the schema as iceberg.schema and extra key/value metadata, and a created_by parquet-mr can parse', async () => {
    const { bytes } = await writeDataFile(ALL_TYPES, ROWS.slice(0, 1), {
      keyValueMetadata: { 'delete-type': 'position' },
    });
    const footer = await readDataFileMetadata(bytes, { location: 'kv' });
    expect(parseJson(footer.keyValueMetadata['iceberg.schema'])).toEqual(
      parseJson(JSON.stringify(schemaToJson(ALL_TYPES))),
    );
    expect(footer.keyValueMetadata['delete-type']).toBe('position');
    expect(footer.createdBy).toMatch(/^floe version \S+ \(build [^)]+\)$/);
  });

  it('writes position delete files with the reserved ids (full metrics for file_path and pos, as Java)', async () => {
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [
        { id: 2147483546, name: 'file_path', required: true, type: 'string' },
        { id: 2147483545, name: 'pos', required: true, type: 'long' },
      ],
    });
    const dataFile = 's3://warehouse/db/t/data/00000-0-a-very-long-data-file-name.parquet';
    const { bytes, metrics } = await writeDataFile(
      schema,
      [
        { file_path: dataFile, pos: 3n },
        { file_path: dataFile, pos: 9n },
      ],
      {
        keyValueMetadata: { 'delete-type': 'position' },
        metricsConfig: {
          'write.metadata.metrics.column.file_path': 'full',
          'write.metadata.metrics.column.pos': 'full',
        },
      },
    );
    const file = await saved('pos-deletes.parquet', bytes);
    const ids = await duck.rows(
      `select name, field_id from parquet_schema(${sqlString(file)}) where field_id is not null`,
    );
    expect(ids).toEqual([
      { name: 'file_path', field_id: '2147483546' },
      { name: 'pos', field_id: '2147483545' },
    ]);
    expect(new TextDecoder().decode(metrics.upperBounds!.get(2147483546))).toBe(dataFile);
    expect(metrics.lowerBounds!.get(2147483545)).toEqual(toBinary('long', 3n));
    expect((await readDataFileMetadata(bytes, { location: file })).keyValueMetadata['delete-type']).toBe('position');
  });

  it('reports split offsets and column sizes that match the footer, across row groups', async () => {
    const rows = Array.from({ length: 2500 }, (_, n) => ({ i: n, s: `row ${n}`, tags: [String(n % 7)] }));
    const { bytes, metrics } = await writeDataFile(ALL_TYPES, rows, { rowGroupSize: 1000 });
    const footer = parquetMetadata(bytes);
    expect(footer.row_groups.map((g) => Number(g.num_rows))).toEqual([1000, 1000, 500]);
    expect(metrics.splitOffsets).toEqual(
      footer.row_groups.map((g) =>
        Math.min(...g.columns.map((c) => Number(c.meta_data!.dictionary_page_offset ?? c.meta_data!.data_page_offset))),
      ),
    );
    expect(metrics.splitOffsets![0]).toBe(4);
    const sizes = new Map<number, number>();
    const idOf = new Map(ALL_TYPES.fields.map((f) => [parquetName(f.name), f.id]));
    for (const group of footer.row_groups) {
      for (const chunk of group.columns) {
        const leaf = chunk.meta_data!.path_in_schema;
        const id = leaf.length === 1 ? idOf.get(leaf[0])! : leaf[0] === 'tags' ? 23 : -1;
        if (id > 0) sizes.set(id, (sizes.get(id) ?? 0) + Number(chunk.meta_data!.total_compressed_size));
      }
    }
    for (const [id, size] of sizes) expect(metrics.columnSizes!.get(id), `column ${id}`).toBe(size);
    expect(metrics.columnSizes!.size).toBe(referenceMetrics(ALL_TYPES, []).size); // one per primitive leaf
  });

  it('encodes the same rows without metrics in encodeParquetRaw (benchmark baseline)', async () => {
    const bytes = await encodeParquetRaw(
      ALL_TYPES,
      ROWS.map((r) => ({ ...r, u: undefined, by_id: undefined })),
    );
    const rows = await readDataFile(bytes, { location: 'raw', schema: ALL_TYPES, projection: [2, 10, 28] });
    const attrs = ALL_TYPES.fields.find((f) => f.name === 'attrs')!.type;
    expect(rows).toEqual(ROWS.map((r) => ({ i: r.i, s: r.s ?? null, attrs: expectedValue(attrs, r.attrs) })));
  });
});

describe('writeDataFile: invalid rows', () => {
  const schema = ALL_TYPES;
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['null in a required field', { i: null }, /row 0: field 'i' is required but null/],
    ['missing required nested field', { i: 1, st: { b: 'x' } }, /field 'st\.a' is required but null/],
    ['null in a required list element', { i: 1, points: [null] }, /field 'points\.element' is required but null/],
    ['null map key', { i: 1, attrs: new Map([[null, 1]]) }, /field 'attrs\.key' is required but null/],
    ['number for a long', { i: 1, l: 5 }, /field 'l' expects a 64-bit bigint, got number 5/],
    ['long out of range', { i: 1, l: 2n ** 63n }, /field 'l' expects a 64-bit bigint/],
    ['fraction for an int', { i: 1.5 }, /field 'i' expects a 32-bit integer/],
    ['int out of range', { i: 2 ** 31 }, /field 'i' expects a 32-bit integer/],
    ['string for binary', { i: 1, bin: 'abc' }, /field 'bin' expects a Uint8Array/],
    ['wrong fixed length', { i: 1, fx: new Uint8Array(3) }, /field 'fx' expects a Uint8Array of 4 bytes/],
    ['bad uuid', { i: 1, u: 'not-a-uuid' }, /field 'u' expects a uuid string/],
    [
      'decimal too wide',
      { i: 1, dec9: 1_000_000_000n },
      /field 'dec9' expects a bigint unscaled value of at most 9 digits/,
    ],
    ['lone surrogate', { i: 1, s: 'a\ud800b' }, /field 's' expects a well-formed string/],
    ['object for a map', { i: 1, attrs: { one: 1 } }, /field 'attrs' expects a Map, got object/],
    ['scalar for a list', { i: 1, tags: 'a' }, /field 'tags' expects an array/],
    ['field not in the schema', { i: 1, extra: 'lost?' }, /field 'extra' is not in the table schema/],
    ['nested field not in the schema', { i: 1, st: { a: 1, c: 2 } }, /field 'st\.c' is not in the table schema/],
  ];
  it.each(cases)('%s', async (_name, row, message) => {
    const failure = writeDataFile(schema, [row]);
    await expect(failure).rejects.toThrow(InvalidRowError);
    await expect(failure).rejects.toThrow(message);
  });

  it('names the row index and field of the first bad value', async () => {
    const error = await writeDataFile(schema, [{ i: 1 }, { i: 2 }, { i: 3, tags: [1] }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRowError);
    expect((error as InvalidRowError).row).toBe(2);
    expect((error as InvalidRowError).field).toBe('tags.element');
  });

  it('accepts explicit undefined for optional and unknown keys', async () => {
    const { bytes } = await writeDataFile(schema, [{ i: 1, s: undefined, extra: undefined }]);
    expect((await readDataFile(bytes, { location: 'u', schema, projection: [10] }))[0]).toEqual({ s: null });
  });
});

// ---- metrics ----

interface ReferenceLeaf {
  values: number;
  nulls: number;
  nans: number;
  min?: unknown;
  max?: unknown;
  type: PrimitiveType;
  bounds: boolean;
}

/** An independent, straightforward computation of Java's metrics over rows (no code shared with metrics.ts). */
function referenceMetrics(schema: Schema, rows: Record<string, unknown>[]): Map<number, ReferenceLeaf> {
  const leaves = new Map<number, ReferenceLeaf>();
  const leafIds = (type: IcebergType, id: number): number[] => {
    if (isStruct(type)) return type.fields.flatMap((f) => leafIds(f.type, f.id));
    if (isList(type)) return leafIds(type.element, type.elementId);
    if (isMap(type)) return [...leafIds(type.key, type.keyId), ...leafIds(type.value, type.valueId)];
    return [id];
  };
  const register = (type: IcebergType, id: number, bounds: boolean) => {
    if (isStruct(type)) for (const f of type.fields) register(f.type, f.id, bounds);
    else if (isList(type)) register(type.element, type.elementId, false);
    else if (isMap(type)) {
      register(type.key, type.keyId, false);
      register(type.value, type.valueId, false);
    } else leaves.set(id, { values: 0, nulls: 0, nans: 0, type, bounds });
  };
  for (const f of schema.fields) register(f.type, f.id, true);
  const nullSlot = (type: IcebergType, id: number) => {
    for (const leafId of leafIds(type, id)) {
      leaves.get(leafId)!.values++;
      leaves.get(leafId)!.nulls++;
    }
  };
  const visit = (type: IcebergType, id: number, value: unknown): void => {
    if (value === null || value === undefined) return nullSlot(type, id);
    if (isStruct(type))
      return type.fields.forEach((f) => visit(f.type, f.id, (value as Record<string, unknown>)[f.name]));
    if (isList(type)) {
      const items = value as unknown[];
      if (!items.length) return nullSlot(type.element, type.elementId);
      return items.forEach((v) => visit(type.element, type.elementId, v));
    }
    if (isMap(type)) {
      const entries = [...(value as Map<unknown, unknown>)];
      if (!entries.length) return nullSlot(type, id);
      return entries.forEach(([k, v]) => {
        visit(type.key, type.keyId, k);
        visit(type.value, type.valueId, v);
      });
    }
    const leaf = leaves.get(id)!;
    leaf.values++;
    if (typeof value === 'number' && Number.isNaN(value)) {
      leaf.nans++;
      return;
    }
    if (leaf.min === undefined || compareValues(type, value, leaf.min) < 0) leaf.min = value;
    if (leaf.max === undefined || compareValues(type, value, leaf.max) > 0) leaf.max = value;
  };
  for (const row of rows) for (const f of schema.fields) visit(f.type, f.id, row[f.name]);
  return leaves;
}

/** Reference truncation (spec: N code points; upper bound = prefix with the last incrementable code point + 1). */
function referenceString(value: string, n: number, upper: boolean): string | undefined {
  const points = [...value];
  if (points.length <= n) return value;
  const prefix = points.slice(0, n);
  if (!upper) return prefix.join('');
  for (let i = prefix.length - 1; i >= 0; i--) {
    let next = prefix[i].codePointAt(0)! + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
    if (next <= 0x10ffff) return prefix.slice(0, i).join('') + String.fromCodePoint(next);
  }
  return undefined;
}

describe('writeDataFile: metrics', () => {
  it('matches an independent computation of counts and bounds over the rows (default truncate(16))', async () => {
    const { metrics } = await writeDataFile(ALL_TYPES, ROWS);
    const reference = referenceMetrics(ALL_TYPES, ROWS);
    expect([...metrics.valueCounts!.keys()].sort((a, b) => a - b)).toEqual([...reference.keys()].sort((a, b) => a - b));
    for (const [id, leaf] of reference) {
      expect(metrics.valueCounts!.get(id), `value count ${id}`).toBe(leaf.values);
      expect(metrics.nullValueCounts!.get(id), `null count ${id}`).toBe(leaf.nulls);
      if (leaf.type === 'float' || leaf.type === 'double')
        expect(metrics.nanValueCounts!.get(id), `nan count ${id}`).toBe(leaf.nans);
      else expect(metrics.nanValueCounts!.has(id)).toBe(false);
      if (!leaf.bounds || leaf.min === undefined) {
        expect(metrics.lowerBounds!.has(id), `no lower bound ${id}`).toBe(false);
        expect(metrics.upperBounds!.has(id), `no upper bound ${id}`).toBe(false);
        continue;
      }
      const serialize = (v: unknown) =>
        leaf.type === 'string' ? new TextEncoder().encode(v as string) : toBinary(leaf.type, v);
      expect(metrics.lowerBounds!.get(id), `lower bound ${id}`).toEqual(
        serialize(leaf.type === 'string' ? referenceString(leaf.min as string, 16, false) : leaf.min),
      );
      expect(metrics.upperBounds!.get(id), `upper bound ${id}`).toEqual(
        serialize(leaf.type === 'string' ? referenceString(leaf.max as string, 16, true) : leaf.max),
      );
    }
    // spot checks that the reference itself is right
    expect(metrics.valueCounts!.get(23)).toBe(6); // tags: 3 slots + 1 (empty list) + 1 (null list) + 1 ([null])
    expect(metrics.nullValueCounts!.get(23)).toBe(4);
    expect(metrics.nanValueCounts!.get(5)).toBe(1);
    expect(metrics.lowerBounds!.get(5)).toEqual(toBinary('double', -0)); // −0.0 sorts before +0.0
    expect(metrics.upperBounds!.get(5)).toEqual(toBinary('double', Number.MAX_VALUE));
    expect(metrics.lowerBounds!.get(4)).toEqual(toBinary('float', -Infinity));
    expect(metrics.lowerBounds!.get(16)).toEqual(
      toBinary('decimal(38, 10)', -99_999_999_999_999_999_999_999_999_999_999_999_999n),
    );
    expect(metrics.lowerBounds!.get(11)).toEqual(toBinary('uuid', uuidB));
    expect(metrics.lowerBounds!.has(21)).toBe(false); // only NaN seen: no bound
    expect(metrics.lowerBounds!.has(26)).toBe(false); // inside a list: Java keeps no bounds
    expect(metrics.lowerBounds!.has(29)).toBe(false); // map key
  });

  it('truncates string bounds to 16 code points with a rounded-up upper bound', async () => {
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [{ id: 1, name: 's', required: false, type: 'string' }],
    });
    const bounds = async (values: string[], properties?: Record<string, string>) => {
      const { metrics } = await writeDataFile(
        schema,
        values.map((s) => ({ s })),
        { metricsConfig: properties },
      );
      const text = (b?: Uint8Array) => (b === undefined ? undefined : new TextDecoder().decode(b));
      return [text(metrics.lowerBounds!.get(1)), text(metrics.upperBounds!.get(1))];
    };
    expect(await bounds(['American Fuzzy Lop', 'Holland Lop'])).toEqual(['American Fuzzy L', 'Holland Lop']);
    expect(await bounds(['abcdefghijklmnopqrstuvwxyz'])).toEqual(['abcdefghijklmnop', 'abcdefghijklmnoq']);
    // multi-byte: 16 code points, not 16 bytes
    expect(await bounds(['é'.repeat(17)])).toEqual(['é'.repeat(16), 'é'.repeat(15) + 'ê']);
    // surrogate pairs count as one code point and are incremented as one
    const rabbits = '🐇'.repeat(20);
    expect(await bounds([rabbits])).toEqual(['🐇'.repeat(16), '🐇'.repeat(15) + '🐈']);
    // the last code point at U+10FFFF cannot be incremented: the one before it is
    expect(await bounds(['a'.repeat(15) + '\u{10FFFF}' + 'zz'])).toEqual([
      'a'.repeat(15) + '\u{10FFFF}',
      'a'.repeat(14) + 'b',
    ]);
    // nothing can be incremented: no upper bound at all (never a plain prefix)
    expect(await bounds(['\u{10FFFF}'.repeat(17)])).toEqual(['\u{10FFFF}'.repeat(16), undefined]);
    // U+D7FF increments past the surrogate range to U+E000
    expect(await bounds(['\ud7ff'.repeat(17)])).toEqual(['\ud7ff'.repeat(16), '\ud7ff'.repeat(15) + '\ue000']);
    expect(await bounds(['abcdefgh'], { 'write.metadata.metrics.default': 'truncate(3)' })).toEqual(['abc', 'abd']);
    expect(await bounds(['abcdefghijklmnopqrstuvwxyz'], { 'write.metadata.metrics.default': 'full' })).toEqual([
      'abcdefghijklmnopqrstuvwxyz',
      'abcdefghijklmnopqrstuvwxyz',
    ]);
    // every bound still brackets the values
    for (const values of [
      ['b\u{10FFFF}\u{10FFFF}x', 'a'],
      ['zz', 'z'.repeat(40)],
      ['\u{1F600}'.repeat(17), '\uffff'.repeat(17)],
    ]) {
      const [lower, upper] = await bounds(values);
      for (const v of values) {
        expect(compareValues('string', lower, v)).toBeLessThanOrEqual(0);
        if (upper !== undefined) expect(compareValues('string', upper, v)).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('truncates binary and fixed bounds to N bytes, rounding the upper bound up past 0xFF', async () => {
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [
        { id: 1, name: 'b', required: false, type: 'binary' },
        { id: 2, name: 'f', required: false, type: 'fixed[6]' },
      ],
    });
    const { metrics } = await writeDataFile(
      schema,
      [
        { b: new Uint8Array([1, 2, 0xff, 0xff, 9]), f: new Uint8Array([0, 1, 2, 3, 4, 5]) },
        { b: new Uint8Array([1, 2]), f: new Uint8Array([9, 0xff, 0xff, 0xff, 1, 1]) },
      ],
      { metricsConfig: { 'write.metadata.metrics.default': 'truncate(4)' } },
    );
    expect(metrics.lowerBounds!.get(1)).toEqual(new Uint8Array([1, 2]));
    expect(metrics.upperBounds!.get(1)).toEqual(new Uint8Array([1, 3]));
    expect(metrics.lowerBounds!.get(2)).toEqual(new Uint8Array([0, 1, 2, 3]));
    expect(metrics.upperBounds!.get(2)).toEqual(new Uint8Array([10]));
  });

  it('applies metrics modes: default, per-column overrides, none and counts', async () => {
    const properties = {
      'write.metadata.metrics.default': 'counts',
      'write.metadata.metrics.column.s': 'truncate(2)',
      'write.metadata.metrics.column.st.a': 'full',
      'write.metadata.metrics.column.l': 'none',
      'write.metadata.metrics.column.tags.element': 'none',
    };
    const { metrics } = await writeDataFile(ALL_TYPES, ROWS, { metricsConfig: properties });
    expect(new TextDecoder().decode(metrics.lowerBounds!.get(10))).toBe('');
    expect(new TextDecoder().decode(metrics.upperBounds!.get(10))).toBe('z{'); // max 'zzzz' cut to 2 code points, rounded up
    expect(metrics.lowerBounds!.get(18)).toEqual(toBinary('int', -5));
    expect(metrics.valueCounts!.get(2)).toBe(4); // counts mode: counts, no bounds
    expect(metrics.lowerBounds!.has(2)).toBe(false);
    expect(metrics.valueCounts!.has(3)).toBe(false); // none: nothing but the column size
    expect(metrics.nullValueCounts!.has(3)).toBe(false);
    expect(metrics.columnSizes!.has(3)).toBe(true);
    expect(metrics.valueCounts!.has(23)).toBe(false);
    expect(metrics.nanValueCounts!.get(5)).toBe(1);
  });

  it('infers default metrics only for the first 100 top-level columns of wide tables, as Java does', async () => {
    const wide = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: Array.from({ length: 102 }, (_, i) => ({ id: i + 1, name: `c${i}`, required: false, type: 'int' })),
    });
    const modes = metricsModes(wide);
    expect(modes.get(100)).toEqual({ kind: 'truncate', length: 16 });
    expect(modes.get(101)).toEqual({ kind: 'none' });
    expect(metricsModes(wide, { 'write.metadata.metrics.max-inferred-column-defaults': '101' }).get(101)).toEqual({
      kind: 'truncate',
      length: 16,
    });
    expect(metricsModes(wide, { 'write.metadata.metrics.default': 'full' }).get(102)).toEqual({ kind: 'full' });
    const { metrics } = await writeDataFile(wide, [Object.fromEntries(wide.fields.map((f, i) => [f.name, i]))]);
    expect(metrics.valueCounts!.has(100)).toBe(true);
    expect(metrics.valueCounts!.has(101)).toBe(false);
  });

  it('rejects unparseable metrics modes and compression codecs clearly', () => {
    expect(() => parseMetricsMode('truncate(0)')).toThrow(IcebergFormatError);
    expect(() => metricsModes(ALL_TYPES, { 'write.metadata.metrics.column.s': 'sometimes' })).toThrow(
      /write\.metadata\.metrics\.column\.s/,
    );
    expect(parseMetricsMode(' Truncate(8) ')).toEqual({ kind: 'truncate', length: 8 });
    expect(parseCompression('UNCOMPRESSED')).toBe('none');
    expect(parseCompression('zstd')).toBe('zstd');
    expect(() => parseCompression('lzo')).toThrow(/lzo/);
  });

  it('reads write.parquet.compression-level for the codecs that have levels, and refuses what is not one', () => {
    expect(parseCompressionLevel('zstd', undefined)).toBeUndefined();
    expect(parseCompressionLevel('zstd', ' 1 ')).toBe(1);
    expect(parseCompressionLevel('gzip', '9')).toBe(9);
    // Java ignores the level for codecs without one
    expect(parseCompressionLevel('snappy', '5')).toBeUndefined();
    expect(parseCompressionLevel('none', 'x')).toBeUndefined();
    for (const bad of ['0', '23', '1.5', 'fast', ''])
      expect(() => parseCompressionLevel('zstd', bad)).toThrow(
        /write\.parquet\.compression-level .* zstd level: expected an integer from 1 to 22/,
      );
    expect(() => parseCompressionLevel('gzip', '10')).toThrow(/from 0 to 9/);
  });

  it.each(['zstd', 'gzip'] as const)('compresses %s at the level it is given', async (compression) => {
    // Text with long-range repeats, where the level matters; both files read back the same rows.
    const schema: Schema = {
      type: 'struct',
      schemaId: 0,
      fields: [{ id: 1, name: 't', required: true, type: 'string' }],
    };
    const words = Array.from({ length: 400 }, (_, i) => `word${(i * 7919) % 1000}`);
    const rows = Array.from({ length: 2000 }, (_, i) => ({
      t: `${words[i % 400]} ${words[(i * 13) % 400]} ${i % 97}`,
    }));
    const [low, high] = compression === 'zstd' ? [1, 19] : [1, 9];
    const fast = await writeDataFile(schema, rows, { compression, compressionLevel: low });
    const small = await writeDataFile(schema, rows, { compression, compressionLevel: high });
    expect(small.bytes.byteLength).toBeLessThan(fast.bytes.byteLength);
    for (const { bytes } of [fast, small])
      expect(await readDataFile(bytes, { location: 'memory:level.parquet', schema })).toEqual(rows);
  });

  it('returns the same counts and bounds from layOutRows as from writeDataFile', async () => {
    const { metrics } = await writeDataFile(ALL_TYPES, ROWS);
    const laid = layOutRows(ALL_TYPES, ROWS);
    expect(laid.metrics).toEqual({
      valueCounts: metrics.valueCounts,
      nullValueCounts: metrics.nullValueCounts,
      nanValueCounts: metrics.nanValueCounts,
      lowerBounds: metrics.lowerBounds,
      upperBounds: metrics.upperBounds,
    });
    expect(laid.columns.map((c) => c.name)).toContain('Breed_x20Name');
  });
});

describe('parquetName', () => {
  it("sanitizes like Java's AvroSchemaUtil.makeCompatibleName", () => {
    expect(parquetName('Breed Name')).toBe('Breed_x20Name');
    expect(parquetName('valid_name1')).toBe('valid_name1');
    expect(parquetName('1st')).toBe('_1st');
    expect(parquetName('a.b-c')).toBe('a_x2Eb_x2Dc');
    expect(parquetName('_under')).toBe('_under');
    expect(parquetName('naïve')).toBe('naïve'); // Unicode letters are valid
    expect(parquetName('🐇')).toBe('_xD83D_xDC07'); // per UTF-16 unit, like Java's char tests
    expect(parquetName('$')).toBe('_x24');
  });
});

describe('field names that are object internals', () => {
  const INTERNALS: Schema = {
    type: 'struct',
    schemaId: 0,
    fields: [
      { id: 1, name: 'constructor', required: false, type: 'string' },
      {
        id: 2,
        name: '__proto__',
        required: false,
        type: {
          type: 'struct',
          fields: [
            { id: 3, name: '__proto__', required: false, type: 'long' },
            { id: 4, name: 'toString', required: false, type: 'string' },
          ],
        },
      },
      { id: 5, name: 'valueOf', required: false, type: 'long' },
    ],
  };

  it('are columns like any other: written from plain objects (own properties only) and read back', async () => {
    const inner = Object.defineProperty({ toString: 't' }, '__proto__', { value: 7n, enumerable: true });
    const full = Object.defineProperty({ constructor: 'c', valueOf: 1n }, '__proto__', {
      value: inner,
      enumerable: true,
    });
    // a plain object without the fields inherits `constructor`, `toString` and `valueOf` functions: they are not values
    const { bytes } = await writeDataFile(INTERNALS, [full, {}]);
    const rows = await readDataFile(bytes, { location: 'internals', schema: INTERNALS });
    expect(rows.map((r) => Object.keys(r))).toEqual([
      ['constructor', '__proto__', 'valueOf'],
      ['constructor', '__proto__', 'valueOf'],
    ]);
    expect([rows[0].constructor, rows[0].valueOf]).toEqual(['c', 1n]);
    const struct = Object.getOwnPropertyDescriptor(rows[0], '__proto__')!.value as Record<string, unknown>;
    expect([Object.getOwnPropertyDescriptor(struct, '__proto__')!.value, struct.toString]).toEqual([7n, 't']);
    expect([
      rows[1].constructor,
      Object.getOwnPropertyDescriptor(rows[1], '__proto__')!.value,
      rows[1].valueOf,
    ]).toEqual([null, null, null]);
    expect(parquetName('__proto__')).toBe('_x5F_proto__');
  });

  it('rowProblem tells one row it does not fit, without failing the others', () => {
    const problem = rowProblem(INTERNALS);
    expect(problem({ constructor: 'c' })).toBeUndefined();
    expect(problem({ valueOf: 'x' })).toBe('field \'valueOf\' expects a 64-bit bigint, got string "x"');
  });
});
