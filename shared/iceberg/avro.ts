/**
 * Avro object container files for Iceberg manifests and manifest lists, on avsc.
 *
 * avsc encodes and decodes the records; the container framing (header, blocks, sync markers, codecs) is done here
 * because avsc only offers it as asynchronous streams and, when it writes a header itself, regenerates the schema
 * from its `Type` and drops the Iceberg attributes (`field-id`, `element-id`, `key-id`, `value-id`). Here the writer
 * schema JSON goes into the header verbatim.
 *
 * Records are exchanged **by Iceberg field id**, not by Avro field name: readers get objects keyed by the `field-id`
 * attributes of the file's own (writer) schema, so renamed fields (`added_data_files_count` → `added_files_count`),
 * boxed schemas (`{"type":"long"}`) and foreign writers all read the same. Fields without a `field-id` are skipped.
 * Values: long → bigint (writes also take safe-integer numbers), bytes/fixed → Uint8Array, record → IdRecord (a Map from
 * field id: objects with numeric keys like 1000 cost V8 a kilobyte-sized elements array each), array → array,
 * map → Map, and Iceberg's int-keyed maps (arrays of key/value records, `logicalType: map`) → Map from key to value,
 * union → the branch's value or null. Logical types are not interpreted here.
 */
import avsc from 'avsc';
import { randomBytes } from 'node:crypto';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { snappyUncompress } from 'hyparquet';
import { decompressZstd } from 'hyparquet-compressors';
import { parseJson, stringifyJson } from '../util/lossless-json.ts';
import { IcebergFormatError } from './schema.ts';

export interface AvroField {
  name: string;
  type: AvroSchema;
  doc?: string;
  default?: unknown;
  [attribute: string]: unknown;
}

export interface AvroComplexSchema {
  type: string | AvroSchema;
  name?: string;
  namespace?: string;
  fields?: AvroField[];
  items?: AvroSchema;
  values?: AvroSchema;
  symbols?: string[];
  size?: number;
  logicalType?: string;
  [attribute: string]: unknown;
}

/** An Avro schema in its JSON form, attributes included. */
export type AvroSchema = string | AvroSchema[] | AvroComplexSchema;

/** A record keyed by Iceberg field id. */
export type IdRecord = Map<number, unknown>;

export interface AvroFile {
  /** The writer schema exactly as stored in the header. */
  schema: AvroSchema;
  /** The key/value header as UTF-8 strings, `avro.schema` and `avro.codec` included. */
  metadata: Record<string, string>;
  records: IdRecord[];
}

/** Codecs `writeAvro` can produce; `readAvro` also reads `snappy` and `zstandard`. */
export type AvroWriteCodec = 'null' | 'deflate';

const MAGIC = Buffer.from('Obj\x01', 'latin1');
const SYNC_SIZE = 16;
const BLOCK_SIZE = 64 * 1024;

// Avro longs as bigint. avsc's own BigInt hook allocates an 8-byte buffer per value (GC-bound on large manifests), so
// with `noUnpack` avsc hands over the raw zig-zag varint bytes and they are converted here directly.
const varintScratch = Buffer.alloc(10);
const TWO_POW_52 = 2 ** 52;

function varintToBigint(bytes: Buffer): bigint {
  if (bytes.length <= 7) {
    // up to 49 bits: exact in a double
    let z = 0;
    for (let i = bytes.length - 1; i >= 0; i--) z = z * 128 + (bytes[i] & 0x7f);
    return BigInt(z % 2 ? -(z + 1) / 2 : z / 2);
  }
  let z = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) z = (z << 7n) | BigInt(bytes[i] & 0x7f);
  return BigInt.asIntN(64, (z >> 1n) ^ -(z & 1n));
}

/** Writes accept bigint or a safe-integer number (row counts, sizes): no BigInt is made for small values. */
function bigintToVarint(value: bigint | number): Buffer {
  let length = 0;
  if (value > -TWO_POW_52 && value < TWO_POW_52) {
    // the zig-zag value stays below 2^53: exact in a double
    const n = Number(value);
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    while (z >= 128) {
      varintScratch[length++] = (z % 128) | 0x80;
      z = Math.floor(z / 128);
    }
    varintScratch[length++] = z;
  } else {
    const big = BigInt(value);
    let z = BigInt.asUintN(64, (big << 1n) ^ (big >> 63n)); // zig-zag
    while (z >= 128n) {
      varintScratch[length++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    varintScratch[length++] = Number(z);
  }
  return varintScratch.subarray(0, length); // avsc copies it into its buffer right away
}

const bigintLong = avsc.types.LongType.__with(
  {
    fromBuffer: varintToBigint,
    toBuffer: bigintToVarint,
    fromJSON: (json: unknown) => BigInt(json as number),
    toJSON: (n: bigint) => Number(n),
    isValid: (n: unknown) => (typeof n === 'bigint' && n >= -(2n ** 63n) && n < 2n ** 63n) || Number.isSafeInteger(n),
    compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
  },
  true,
);

// catches `"long"` and boxed `{"type":"long"}` alike (avsc's `registry` option misses the boxed form)
const typeHook = (schema: unknown) =>
  schema === 'long' || (typeof schema === 'object' && schema !== null && (schema as AvroComplexSchema).type === 'long')
    ? bigintLong
    : undefined;

const headerMetaType = avsc.Type.forSchema({ type: 'map', values: 'bytes' });
const blockLongType = avsc.Type.forSchema('long');

// ---- schema compilation: avsc type + converters between avsc values and id-keyed values ----

type Convert = ((value: unknown) => unknown) | undefined; // undefined = the value passes unchanged

interface Compiled {
  /** Structural schema avsc can parse: positional field names, no defaults, docs or attributes. */
  plain: AvroSchema;
  decode: Convert;
  encode: Convert;
}

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

const toBytes = (value: unknown) => {
  const buf = value as Buffer;
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
};
const toBuffer = (value: unknown) => {
  if (!(value instanceof Uint8Array)) return value; // let avsc report the invalid value
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
};

function fieldIdOf(field: AvroField): number | undefined {
  const id = field['field-id'];
  if (typeof id === 'number' && Number.isInteger(id)) return id;
  if (typeof id === 'string' && /^-?\d+$/.test(id)) return Number(id);
  return undefined;
}

class SchemaCompiler {
  private readonly named = new Map<string, Compiled>();

  compile(schema: AvroSchema, namespace = ''): Compiled {
    if (Array.isArray(schema)) return this.union(schema, namespace);
    if (typeof schema === 'string') return this.reference(schema, namespace);
    if (typeof schema !== 'object' || schema === null) throw new Error(`invalid schema ${JSON.stringify(schema)}`);
    const type = schema.type;
    if (typeof type !== 'string') return this.compile(type, namespace); // {"type": {...}} or {"type": [...]}
    switch (type) {
      case 'record':
      case 'error':
        return this.record(schema, namespace);
      case 'array': {
        if (schema.logicalType === 'map') {
          const pair = this.keyValue(schema.items as AvroSchema, namespace);
          if (pair) return pair;
        }
        const items = this.compile(schema.items as AvroSchema, namespace);
        const dec = items.decode;
        const enc = items.encode;
        return {
          plain: { type: 'array', items: items.plain },
          decode: dec && ((v) => (v as unknown[]).map(dec)),
          encode: enc && ((v) => (Array.isArray(v) ? v.map(enc) : v)),
        };
      }
      case 'map': {
        const values = this.compile(schema.values as AvroSchema, namespace);
        const dec = values.decode ?? ((v: unknown) => v);
        const enc = values.encode ?? ((v: unknown) => v);
        return {
          plain: { type: 'map', values: values.plain },
          decode: (v) => new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, dec(x)])),
          encode: (v) => {
            const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as Record<string, unknown>);
            return Object.fromEntries(entries.map(([k, x]) => [k, enc(x)]));
          },
        };
      }
      case 'fixed':
      case 'enum': {
        const fullName = this.fullName(schema, namespace);
        const plain: AvroComplexSchema =
          type === 'fixed'
            ? { type, name: fullName, size: schema.size }
            : { type, name: fullName, symbols: schema.symbols };
        const compiled: Compiled =
          type === 'fixed'
            ? { plain, decode: toBytes, encode: toBuffer }
            : { plain, decode: undefined, encode: undefined };
        this.define(schema, fullName, compiled);
        return compiled;
      }
      default:
        return this.reference(type, namespace); // boxed primitive {"type":"long", ...} or a named reference
    }
  }

  private reference(name: string, namespace: string): Compiled {
    if (PRIMITIVES.has(name)) return primitive(name);
    const found =
      this.named.get(name) ?? this.named.get(namespace && !name.includes('.') ? `${namespace}.${name}` : name);
    if (!found) throw new Error(`unknown Avro type '${name}'`);
    // a later use of a named type is a reference in the plain schema too; the converters delegate because a
    // record's are only set once its fields are compiled (a record may refer to itself)
    return {
      plain: (found.plain as AvroComplexSchema).name ?? found.plain,
      decode: (v) => (found.decode ? found.decode(v) : v),
      encode: (v) => (found.encode ? found.encode(v) : v),
    };
  }

  private fullName(schema: AvroComplexSchema, namespace: string): string {
    const name = String(schema.name);
    if (name.includes('.')) return name;
    const ns = schema.namespace ?? namespace;
    return ns ? `${ns}.${name}` : name;
  }

  private define(schema: AvroComplexSchema, fullName: string, compiled: Compiled): void {
    this.named.set(fullName, compiled);
    this.named.set(String(schema.name), compiled);
  }

  private record(schema: AvroComplexSchema, namespace: string): Compiled {
    const fullName = this.fullName(schema, namespace);
    const childNamespace = fullName.includes('.') ? fullName.slice(0, fullName.lastIndexOf('.')) : '';
    const plainFields: AvroField[] = [];
    const plain: AvroComplexSchema = { type: 'record', name: fullName, fields: plainFields };
    const compiled: Compiled = { plain, decode: undefined, encode: undefined };
    this.define(schema, fullName, compiled); // before the fields: a record may refer to itself
    const slots = (schema.fields ?? []).map((field, i) => {
      const inner = this.compile(field.type, childNamespace);
      const key = `f${i}`; // positional: Iceberg field names need not be valid Avro (avsc) names
      plainFields.push({ name: key, type: inner.plain });
      const nullable = inner.plain === 'null' || (Array.isArray(inner.plain) && inner.plain.includes('null'));
      return { key, id: fieldIdOf(field), name: field.name, nullable, decode: inner.decode, encode: inner.encode };
    });
    compiled.decode = (value) => {
      const avro = value as Record<string, unknown>;
      const out: IdRecord = new Map();
      for (const slot of slots) {
        if (slot.id === undefined) continue;
        const v = avro[slot.key];
        out.set(slot.id, slot.decode ? slot.decode(v) : v);
      }
      return out;
    };
    compiled.encode = (value) => {
      if (!(value instanceof Map)) throw new Error(`record ${fullName} must be given as a Map keyed by field id`);
      const rec = value as IdRecord;
      const out: Record<string, unknown> = {};
      for (const slot of slots) {
        if (slot.id === undefined) throw new Error(`field '${slot.name}' has no field-id and cannot be written by id`);
        const v = rec.get(slot.id);
        if ((v === undefined || v === null) && !slot.nullable)
          throw new Error(`required field '${slot.name}' (id ${slot.id}) is missing`);
        out[slot.key] = slot.encode ? slot.encode(v) : v;
      }
      return out;
    };
    return compiled;
  }

  /** Iceberg's map with non-string keys: an array of `{key, value}` records, read as a Map from key to value. */
  private keyValue(items: AvroSchema, namespace: string): Compiled | undefined {
    const record = typeof items === 'object' && !Array.isArray(items) && items.type === 'record' ? items : undefined;
    const [key, value] = record?.fields ?? [];
    if (!record || record.fields!.length !== 2 || key.name !== 'key' || value.name !== 'value') return undefined;
    const fullName = this.fullName(record, namespace);
    const keyType = this.compile(key.type, namespace);
    const valueType = this.compile(value.type, namespace);
    const plain: AvroComplexSchema = {
      type: 'record',
      name: fullName,
      fields: [
        { name: 'k', type: keyType.plain },
        { name: 'v', type: valueType.plain },
      ],
    };
    this.define(record, fullName, { plain, decode: undefined, encode: undefined });
    const decKey = keyType.decode ?? ((k: unknown) => k);
    const decValue = valueType.decode ?? ((v: unknown) => v);
    const encKey = keyType.encode ?? ((k: unknown) => k);
    const encValue = valueType.encode ?? ((v: unknown) => v);
    return {
      plain: { type: 'array', items: plain },
      decode: (pairs) => new Map((pairs as { k: unknown; v: unknown }[]).map((p) => [decKey(p.k), decValue(p.v)])),
      encode: (map) => {
        if (!(map instanceof Map)) throw new Error(`map ${fullName} must be given as a Map`);
        return [...map].map(([k, v]) => ({ k: encKey(k), v: encValue(v) }));
      },
    };
  }

  private union(branches: AvroSchema[], namespace: string): Compiled {
    const compiled = branches.map((b) => this.compile(b, namespace));
    const plain = compiled.map((c) => c.plain);
    const nonNull = compiled.filter((c) => c.plain !== 'null');
    if (nonNull.length !== 1) return { plain, decode: undefined, encode: undefined }; // not an Iceberg option: raw
    const { decode, encode } = nonNull[0];
    return {
      plain,
      decode: decode && ((v) => (v === null || v === undefined ? null : decode(v))),
      encode: (v) => (v === null || v === undefined ? null : encode ? encode(v) : v),
    };
  }
}

function primitive(name: string): Compiled {
  switch (name) {
    case 'long':
      return { plain: 'long', decode: undefined, encode: undefined };
    case 'bytes':
      return { plain: 'bytes', decode: toBytes, encode: toBuffer };
    case 'null':
      return { plain: 'null', decode: () => null, encode: () => null };
    default:
      return { plain: name, decode: undefined, encode: undefined };
  }
}

interface Codec {
  type: avsc.Type;
  decode: Convert;
  encode: Convert;
}

function compileSchema(schema: AvroSchema): Codec {
  const compiled = new SchemaCompiler().compile(schema);
  const type = avsc.Type.forSchema(compiled.plain as avsc.Schema, { typeHook } as Partial<avsc.ForSchemaOptions>);
  return { type, decode: compiled.decode, encode: compiled.encode };
}

// A table's manifests share a handful of schemas (one per partition spec), yet compiling one took ~10% of the
// publisher's CPU when done per file. Codecs are pure once compiled, so they are kept by schema text, a bounded few.
const CODEC_CACHE_SIZE = 64;
const codecs = new Map<string, Codec>();

function codecFor(schemaText: string, schema: AvroSchema): Codec {
  let codec = codecs.get(schemaText);
  if (codec) return codec;
  codec = compileSchema(schema);
  if (codecs.size >= CODEC_CACHE_SIZE) codecs.delete(codecs.keys().next().value!);
  codecs.set(schemaText, codec);
  return codec;
}

// ---- reading ----

function fail(location: string, message: string, cause?: unknown): never {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  throw new IcebergFormatError(`${location}: ${message}${detail}`, { cause });
}

interface Header {
  metadata: Record<string, string>;
  schema: AvroSchema;
  sync: Buffer;
  /** Offset of the first block. */
  offset: number;
}

function readHeader(buf: Buffer, location: string): Header {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    fail(location, 'not an Avro object container file (bad magic bytes)');
  }
  let decoded: { value: Record<string, Buffer>; offset: number };
  try {
    decoded = headerMetaType.decode(buf, MAGIC.length);
  } catch (err) {
    fail(location, 'corrupt Avro header', err);
  }
  if (decoded.offset < 0 || decoded.offset + SYNC_SIZE > buf.length) fail(location, 'truncated Avro header');
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(decoded.value)) metadata[key] = value.toString('utf8');
  const schemaText = metadata['avro.schema'];
  if (schemaText === undefined) fail(location, 'Avro header has no avro.schema');
  let schema: AvroSchema;
  try {
    schema = parseJson<AvroSchema>(schemaText);
  } catch (err) {
    fail(location, 'avro.schema is not valid JSON', err);
  }
  return {
    metadata,
    schema,
    sync: buf.subarray(decoded.offset, decoded.offset + SYNC_SIZE),
    offset: decoded.offset + SYNC_SIZE,
  };
}

/** The key/value header and writer schema of an Avro container, without decoding any block. */
export function readAvroHeader(
  bytes: Uint8Array,
  location: string,
): { schema: AvroSchema; metadata: Record<string, string> } {
  const { schema, metadata } = readHeader(asBuffer(bytes), location);
  return { schema, metadata };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function decompress(codec: string, data: Buffer): Buffer {
  switch (codec) {
    case 'null':
      return data;
    case 'deflate':
      return inflateRawSync(data);
    case 'snappy': {
      // Avro snappy: raw snappy block followed by the big-endian CRC32 of the uncompressed bytes
      const body = data.subarray(0, data.length - 4);
      const length = snappyLength(body);
      // snappy's best case is a 5-byte copy of 64 bytes: a larger claim is corruption, not data
      if (length > 16 * body.length + 64) throw new Error(`corrupt snappy block (claims ${length} bytes)`);
      const out = Buffer.alloc(length);
      snappyUncompress(body, out);
      if (crc32(out) !== data.readUInt32BE(data.length - 4)) throw new Error('snappy block checksum mismatch');
      return out;
    }
    case 'zstandard':
      return asBuffer(decompressZstd(data));
    default:
      throw new Error(`unsupported Avro codec '${codec}'`);
  }
}

/** The uncompressed length at the start of a raw snappy block (varint). */
function snappyLength(body: Buffer): number {
  let length = 0;
  for (let i = 0, shift = 0; i < 5 && i < body.length; i++, shift += 7) {
    length += (body[i] & 0x7f) * 2 ** shift;
    if (!(body[i] & 0x80)) return length;
  }
  throw new Error('corrupt snappy block length');
}

/** Decodes a whole container; any damage is an `IcebergFormatError` naming `location`. */
export function readAvro(bytes: Uint8Array, location: string): AvroFile {
  const buf = asBuffer(bytes);
  const header = readHeader(buf, location);
  const codecName = header.metadata['avro.codec'] || 'null';
  let codec: Codec;
  try {
    codec = codecFor(header.metadata['avro.schema'], header.schema);
  } catch (err) {
    fail(location, 'unsupported Avro schema', err);
  }
  const records: IdRecord[] = [];
  let pos = header.offset;
  for (let block = 0; pos < buf.length; block++) {
    const count = readLong(buf, pos);
    const size = count.offset < 0 ? count : readLong(buf, count.offset);
    if (size.offset < 0) fail(location, `truncated Avro block ${block} header at byte ${pos}`);
    if (count.value <= 0 || size.value < 0) fail(location, `corrupt Avro block ${block} at byte ${pos}`);
    const end = size.offset + size.value;
    if (end + SYNC_SIZE > buf.length)
      fail(location, `truncated Avro block ${block}: needs ${end + SYNC_SIZE} bytes, file has ${buf.length}`);
    if (!buf.subarray(end, end + SYNC_SIZE).equals(header.sync))
      fail(location, `corrupt Avro block ${block}: sync marker mismatch`);
    let data: Buffer;
    try {
      data = decompress(codecName, buf.subarray(size.offset, end));
    } catch (err) {
      fail(location, `cannot decompress Avro block ${block} (${codecName})`, err);
    }
    decodeBlock(data, count.value, codec, records, location, block);
    pos = end + SYNC_SIZE;
  }
  return { schema: header.schema, metadata: header.metadata, records };
}

/** A block header long; offset -1 when the bytes run out or do not form a sane long. */
function readLong(buf: Buffer, pos: number): { value: number; offset: number } {
  try {
    return blockLongType.decode(buf, pos) as { value: number; offset: number };
  } catch {
    return { value: -1, offset: -1 };
  }
}

function decodeBlock(
  data: Buffer,
  count: number,
  codec: Codec,
  out: IdRecord[],
  location: string,
  block: number,
): void {
  let offset = 0;
  for (let i = 0; i < count; i++) {
    let decoded: { value: unknown; offset: number };
    try {
      decoded = codec.type.decode(data, offset);
    } catch (err) {
      fail(location, `corrupt record ${i} in Avro block ${block}`, err);
    }
    if (decoded.offset < 0) fail(location, `truncated record ${i} in Avro block ${block}`);
    offset = decoded.offset;
    out.push((codec.decode ? codec.decode(decoded.value) : decoded.value) as IdRecord);
  }
  if (offset !== data.length)
    fail(location, `corrupt Avro block ${block}: ${data.length - offset} bytes left after ${count} records`);
}

// ---- writing ----

export interface WriteAvroOptions {
  /** The writer schema; written verbatim into the header (attributes kept). Its record fields need `field-id`s. */
  schema: AvroComplexSchema;
  records: IdRecord[];
  /** Extra key/value header entries (Iceberg's `schema`, `partition-spec`, ...). */
  metadata?: Record<string, string>;
  codec?: AvroWriteCodec;
}

/** Encodes records (keyed by field id) into an Avro object container; deflate by default. */
export function writeAvro({ schema, records, metadata = {}, codec = 'deflate' }: WriteAvroOptions): Uint8Array {
  const schemaText = stringifyJson(schema);
  const compiled = codecFor(schemaText, schema);
  const meta: Record<string, Buffer> = {
    'avro.schema': Buffer.from(schemaText),
    'avro.codec': Buffer.from(codec),
  };
  for (const [key, value] of Object.entries(metadata)) {
    if (!key.startsWith('avro.')) meta[key] = Buffer.from(value);
  }
  const sync = randomBytes(SYNC_SIZE);
  const chunks: Buffer[] = [MAGIC, headerMetaType.toBuffer(meta), sync];
  let block = Buffer.allocUnsafe(2 * BLOCK_SIZE);
  let pos = 0;
  let count = 0;
  const flush = () => {
    if (!count) return;
    const raw = block.subarray(0, pos);
    const data = codec === 'deflate' ? deflateRawSync(raw) : Buffer.from(raw); // the block buffer is reused
    chunks.push(blockLongType.toBuffer(count), blockLongType.toBuffer(data.length), data, sync);
    pos = 0;
    count = 0;
  };
  records.forEach((record, i) => {
    const value = compiled.encode ? compiled.encode(record) : record;
    try {
      let end = compiled.type.encode(value, block, pos);
      if (end < 0) {
        flush(); // does not fit: start a new block, in a bigger buffer if the record alone is larger
        end = compiled.type.encode(value, block, 0);
        if (end < 0) {
          block = Buffer.allocUnsafe(2 * (block.length - end));
          end = compiled.type.encode(value, block, 0);
        }
      }
      pos = end;
    } catch (err) {
      throw invalidRecord(compiled, schema, value, i, err);
    }
    count++;
    if (pos >= BLOCK_SIZE) flush();
  });
  flush();
  const out = Buffer.concat(chunks);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** avsc's write checks every value as it goes; on failure, its validator finds where. */
function invalidRecord(codec: Codec, schema: AvroSchema, value: unknown, index: number, err: unknown): Error {
  const paths: string[] = [];
  codec.type.isValid(value, {
    errorHook: (path: string[], v: unknown) => paths.push(`${fieldPath(schema, path)}=${describe(v)}`),
  });
  return new Error(
    `record ${index} does not match its Avro schema${paths.length ? ` at ${paths.join(', ')}` : ''}: ${(err as Error).message}`,
  );
}

/** avsc reports paths in the positional names given to it (`f3`, `k`/`v`); this maps them back to the schema's names. */
function fieldPath(schema: AvroSchema, path: string[]): string {
  const named = new Map<string, AvroComplexSchema>();
  const collect = (s: AvroSchema): void => {
    if (Array.isArray(s)) return s.forEach(collect);
    if (typeof s !== 'object' || s === null) return;
    if (typeof s.name === 'string') named.set(s.name, s);
    if (typeof s.type === 'object') collect(s.type);
    s.fields?.forEach((f) => collect(f.type));
    if (s.items) collect(s.items);
    if (s.values) collect(s.values);
  };
  collect(schema);
  const resolve = (s: AvroSchema | undefined): AvroComplexSchema | undefined => {
    if (Array.isArray(s)) return resolve(s.find((b) => b !== 'null'));
    if (typeof s === 'string') return named.get(s);
    if (s && typeof s.type === 'object') return resolve(s.type);
    return s;
  };
  let current = resolve(schema);
  return path
    .map((segment) => {
      const position = /^f(\d+)$/.exec(segment);
      const field = position ? current?.fields?.[Number(position[1])] : undefined;
      if (field) {
        current = resolve(field.type);
        return field.name;
      }
      if (segment === 'k' || segment === 'v') {
        const pair = current?.fields?.[segment === 'k' ? 0 : 1];
        current = resolve(pair?.type);
        return pair?.name ?? segment;
      }
      if (current?.type === 'array') current = resolve(current.items);
      else if (current?.type === 'map') current = resolve(current.values);
      return segment;
    })
    .join('.');
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
