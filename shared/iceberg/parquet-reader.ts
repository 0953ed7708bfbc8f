/**
 * Reads Parquet data files (and position/equality delete files) into rows of a read schema — the table schema at the
 * snapshot — resolving columns by field id, never by name, so renamed columns still read.
 *
 * Column resolution, per file (Java `ReadConf`): if any column of the file carries a field id, ids are used and
 * columns without one are ignored; else, with a name mapping (`schema.name-mapping.default`), ids come from the
 * mapping by column name; else Java's fallback applies — top-level columns get ids 1, 2, ... by position and nested
 * columns none, so their struct fields read as null and their lists/maps fail (and top-level positions can silently
 * mis-map imported files: pass a name mapping for them).
 * A read field missing from the file takes, in order: the caller's constant for its id (identity-partition values
 * from the manifest), its `initial-default`, or null; a missing required field with neither is an error.
 * Metadata columns `_file` (id 2147483646) and `_pos` (2147483645, bigint row position) are filled when the read
 * schema asks for them.
 *
 * Values follow `types.ts`. hyparquet decodes the pages; it is given a copy of the footer schema with the logical
 * annotations it would convert lossily (decimals to floats, timestamps to `Date`, map keys to object keys, INT96)
 * removed, and the physical values are converted here with the original annotations. Type promotions int→long,
 * float→double and decimal precision widening are read as such.
 *
 * Files on object storage are read with ranged GETs through `FileIO.readRange` (footer, then the projected column
 * chunks of one row group at a time); small files are fetched whole. Rows are produced one row group at a time
 * (`readDataFileBatches`), so a large file is never decoded in full at once.
 *
 * A truncated or corrupt file is an `IcebergFormatError` naming its location; a missing one the storage error.
 */
import { parquetMetadataAsync, parquetRead, parquetSchema } from 'hyparquet';
import type { AsyncBuffer, FileMetaData, SchemaElement, SchemaTree } from 'hyparquet';
import { compressors as decompressors } from 'hyparquet-compressors';
import { NotFoundError, StorageError, type FileIO } from '../storage/index.ts';
import { bareObject, isInheritedName, ownValue } from '../util/bare-object.ts';
import { parseBloomFilterHeader, SplitBlockBloomFilter } from './bloom-filter.ts';
import { bytesToUuid, minimalBytesToBigint } from './conversions.ts';
import { findMapped, type MappedField, type NameMapping } from './name-mapping.ts';
import { decimalOf, fixedLength, IcebergFormatError, isList, isMap, isStruct } from './schema.ts';
import { zstdDecompress, zstdReady } from './zstd.ts';
import type { IcebergType, NestedField, PrimitiveType, Schema, StructType } from './types.ts';

/** Reserved field ids of Iceberg's metadata columns (Java `MetadataColumns`). */
export const FILE_PATH_FIELD_ID = 2147483646;
export const ROW_POSITION_FIELD_ID = 2147483645;
/** Position delete files: `file_path` and `pos`. */
export const DELETE_FILE_PATH_FIELD_ID = 2147483546;
export const DELETE_FILE_POS_FIELD_ID = 2147483545;

/** Where the file's bytes come from: a FileIO (read by `location`), the whole file, or any hyparquet AsyncBuffer. */
export type ParquetSource = FileIO | Uint8Array | AsyncBuffer;

export interface ReadDataFileOptions {
  /** The file's location: read through a FileIO, and named in every error. */
  location: string;
  /** The read schema (table schema at the snapshot, or a delete file's schema). */
  schema: Schema;
  /** Field ids to read (a struct id selects the whole struct, a nested id only that part); default all. */
  projection?: number[];
  nameMapping?: NameMapping;
  /** Values for field ids absent from the file (identity partition values from the manifest). */
  constants?: Map<number, unknown>;
  /** Row range `[rowStart, rowEnd)` of the file to read. */
  rowStart?: number;
  rowEnd?: number;
  /** The file size when known (manifest `file_size_in_bytes`): saves a HEAD request. */
  fileSize?: number;
}

export interface DataFileFooter {
  rowCount: number;
  rowGroups: { rowCount: number; compressedSize: number }[];
  /** Footer key/value metadata (e.g. `iceberg.schema`, `delete-type`). */
  keyValueMetadata: Record<string, string>;
  /** Whether the file's columns carry Iceberg field ids. */
  hasFieldIds: boolean;
  createdBy?: string;
  /** The raw hyparquet footer, for callers that need more. */
  metadata: FileMetaData;
}

/** Reads only the footer of a Parquet file. */
export async function readDataFileMetadata(
  source: ParquetSource,
  options: { location: string; fileSize?: number },
): Promise<DataFileFooter> {
  return withFileErrors(options.location, async () => {
    const metadata = await loadMetadata(await openSource(source, options.location, options.fileSize));
    return {
      rowCount: Number(metadata.num_rows),
      rowGroups: metadata.row_groups.map((g) => ({
        rowCount: Number(g.num_rows),
        compressedSize: Number(g.total_compressed_size ?? 0n),
      })),
      keyValueMetadata: Object.fromEntries((metadata.key_value_metadata ?? []).map((kv) => [kv.key, kv.value ?? ''])),
      hasFieldIds: metadata.schema.slice(1).some((e) => e.field_id !== undefined),
      ...(metadata.created_by !== undefined ? { createdBy: metadata.created_by } : {}),
      metadata,
    };
  });
}

export interface ColumnBloomFilters {
  /** The Parquet leaf of each requested top-level field id the file has (a filter's values are hashed by its type). */
  elements: Map<number, SchemaElement>;
  /** Per row group, the bloom filter of each found field id; undefined where the chunk has none floe can evaluate. */
  rowGroups: { rowCount: number; filters: Map<number, SplitBlockBloomFilter | undefined> }[];
  /** Bytes of the filters read (what a cache of them holds). */
  bytes: number;
}

/**
 * Reads the bloom filters of the given top-level columns (by field id) from a data file: the footer, then each column
 * chunk's `bloom_filter_offset`/`bloom_filter_length` range (a writer that recorded only the offset costs one more
 * read, for the header). Columns without field ids in the file are not resolved: no filter, nothing skipped.
 */
export async function readBloomFilters(
  source: ParquetSource,
  options: { location: string; fileSize?: number; fieldIds: number[] },
): Promise<ColumnBloomFilters> {
  const { location } = options;
  return withFileErrors(location, async () => {
    const file = await openSource(source, location, options.fileSize);
    const metadata = await loadMetadata(file);
    const wanted = new Set(options.fieldIds);
    const elements = new Map<number, SchemaElement>();
    const byName = new Map<string, number>();
    for (const child of parquetSchema(metadata).children) {
      const id = child.element.field_id;
      if (id !== undefined && wanted.has(id) && !child.children.length) {
        elements.set(id, child.element);
        byName.set(child.element.name, id);
      }
    }
    let bytes = 0;
    const rowGroups: ColumnBloomFilters['rowGroups'] = [];
    for (const group of metadata.row_groups) {
      const filters = new Map<number, SplitBlockBloomFilter | undefined>();
      for (const chunk of group.columns) {
        const path = chunk.meta_data?.path_in_schema;
        const id = path?.length === 1 ? byName.get(path[0]) : undefined;
        if (id === undefined) continue;
        const filter = await readChunkBloomFilter(file, chunk.meta_data!);
        bytes += filter?.numBytes ?? 0;
        filters.set(id, filter);
      }
      rowGroups.push({ rowCount: Number(group.num_rows), filters });
    }
    return { elements, rowGroups, bytes };
  });
}

/** The bloom filter of one column chunk, or undefined when it has none (or one of an algorithm the spec lacks). */
async function readChunkBloomFilter(
  file: AsyncBuffer,
  meta: { bloom_filter_offset?: bigint; bloom_filter_length?: number },
): Promise<SplitBlockBloomFilter | undefined> {
  if (meta.bloom_filter_offset === undefined) return undefined;
  const offset = Number(meta.bloom_filter_offset);
  if (offset < 4 || offset >= file.byteLength) throw new Error(`bloom filter offset ${offset} is outside the file`);
  const length = meta.bloom_filter_length;
  const head = new Uint8Array(
    await file.slice(offset, Math.min(file.byteLength, offset + (length && length > 0 ? length : BLOOM_HEADER_FETCH))),
  );
  const header = parseBloomFilterHeader(head);
  if (!header) return undefined;
  const end = header.headerLength + header.numBytes;
  if (length !== undefined && length > 0 && end > length)
    throw new Error(`bloom filter at ${offset} holds ${end} bytes, but its chunk records ${length}`);
  if (offset + end > file.byteLength) throw new Error(`bloom filter at ${offset} runs past the end of the file`);
  const bitset =
    end <= head.byteLength
      ? head.subarray(header.headerLength, end)
      : new Uint8Array(await file.slice(offset + header.headerLength, offset + end));
  return SplitBlockBloomFilter.fromBytes(bitset);
}

/** A BloomFilterHeader is ~15 bytes; writers that omit `bloom_filter_length` get this much read for it first. */
const BLOOM_HEADER_FETCH = 64;

/** Reads the rows of a data file (or of `[rowStart, rowEnd)`), keyed by the read schema's field names. */
export async function readDataFile(
  source: ParquetSource,
  options: ReadDataFileOptions,
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of readDataFileBatches(source, options)) {
    for (const row of batch) rows.push(row);
  }
  return rows;
}

/** Like `readDataFile`, one batch per row group, so only one row group is decoded at a time. */
export async function* readDataFileBatches(
  source: ParquetSource,
  options: ReadDataFileOptions,
): AsyncGenerator<Record<string, unknown>[]> {
  const { location } = options;
  const prepared = await withFileErrors(location, async () => {
    await zstdReady();
    const file = await openSource(source, location, options.fileSize);
    const metadata = await loadMetadata(file);
    const grouped = metadata.row_groups.reduce((sum, g) => sum + Number(g.num_rows), 0);
    if (grouped !== Number(metadata.num_rows))
      throw new Error(`row groups hold ${grouped} rows but the footer says ${metadata.num_rows}`);
    return { file, metadata, plan: planRead(metadata, options) };
  });
  const { file, metadata, plan } = prepared;
  const total = Number(metadata.num_rows);
  const start = Math.max(0, options.rowStart ?? 0);
  const end = Math.min(total, options.rowEnd ?? total);
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupEnd = groupStart + Number(group.num_rows);
    const from = Math.max(start, groupStart);
    const to = Math.min(end, groupEnd);
    groupStart = groupEnd;
    if (from >= to) continue;
    yield await withFileErrors(location, () => readRange(file, plan, from, to));
  }
}

// ---- sources and errors ----

/** Files up to this size are fetched with one GET: fewer round trips than footer + column chunk reads. */
const WHOLE_FILE_LIMIT = 512 * 1024;
/** The first read from the end of a file: holds the footer of typical data files (a longer footer costs one more GET). */
const FOOTER_FETCH = 64 * 1024;

async function openSource(source: ParquetSource, location: string, fileSize: number | undefined): Promise<AsyncBuffer> {
  if (source instanceof Uint8Array) return bufferOf(source);
  if (!isFileIO(source)) return source;
  const size = fileSize ?? (await source.head(location))?.size;
  if (size === undefined) throw new NotFoundError(location, 'file io');
  if (size <= WHOLE_FILE_LIMIT) return bufferOf(await source.read(location));
  return {
    byteLength: size,
    slice: async (start, end = size) => exactArrayBuffer(await source.readRange(location, start, end - start)),
  };
}

function isFileIO(source: FileIO | AsyncBuffer): source is FileIO {
  return typeof (source as FileIO).readRange === 'function';
}

function bufferOf(bytes: Uint8Array): AsyncBuffer {
  return {
    byteLength: bytes.byteLength,
    slice: (start, end = bytes.byteLength) =>
      bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + end) as ArrayBuffer,
  };
}

function exactArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
  // Not bytes.slice(): on a Node Buffer that is a view of the shared pool, not a copy.
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function loadMetadata(file: AsyncBuffer): Promise<FileMetaData> {
  if (file.byteLength < 12) throw new Error(`file is ${file.byteLength} bytes, too short for Parquet`);
  const head = new Uint8Array(await file.slice(0, 4));
  if (String.fromCharCode(...head) !== 'PAR1') throw new Error('not a Parquet file (no PAR1 magic at the start)');
  return parquetMetadataAsync(file, { initialFetchSize: FOOTER_FETCH });
}

/** Runs `work`; any failure other than a storage error becomes an `IcebergFormatError` naming the file. */
async function withFileErrors<T>(location: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof StorageError) throw err;
    if (err instanceof IcebergFormatError && err.message.includes(location)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new IcebergFormatError(`cannot read Parquet file ${location}: ${message}`, { cause: err });
  }
}

// ---- file schema with resolved field ids ----

interface FileNode {
  name: string;
  /** The footer's element, with its original annotations. */
  element: SchemaElement;
  id?: number;
  children: FileNode[];
  /** For LIST groups: the element node; for MAP groups: key_value group name and key/value nodes. */
  listElement?: FileNode;
  mapEntries?: { name: string; key: FileNode; value: FileNode };
  /** Why this column cannot be read, if it cannot (reported only when a read needs it). */
  unsupported?: string;
}

function fileNodes(metadata: FileMetaData, nameMapping: NameMapping | undefined): FileNode[] {
  const root = parquetSchema(metadata);
  const hasIds = metadata.schema.slice(1).some((e) => e.field_id !== undefined);
  const idOf = (tree: SchemaTree, mapped: MappedField | undefined) =>
    hasIds ? tree.element.field_id : mapped?.fieldId;
  const build = (tree: SchemaTree, mapped: MappedField | undefined, id: number | undefined): FileNode => {
    const node: FileNode = { name: tree.element.name, element: tree.element, id, children: [] };
    const annotation = tree.element.converted_type ?? tree.element.logical_type?.type;
    if (
      annotation === 'LIST' &&
      tree.children.length === 1 &&
      tree.children[0].element.repetition_type === 'REPEATED'
    ) {
      const repeated = tree.children[0];
      // 3-level lists wrap the element in a repeated group of one child; legacy 2-level lists repeat the element
      // itself, which hyparquet assembles only for primitive elements
      if (
        repeated.children.length > 1 ||
        (repeated.children.length === 1 &&
          (repeated.element.name === 'array' || repeated.element.name === `${tree.element.name}_tuple`))
      ) {
        node.unsupported = 'a legacy 2-level list of groups, which is not supported';
        return node;
      }
      const elementTree = repeated.children.length === 1 ? repeated.children[0] : repeated;
      const elementMapped = findMapped(mapped?.fields, 'element');
      node.listElement = build(elementTree, elementMapped, idOf(elementTree, elementMapped));
    } else if (
      (annotation === 'MAP' || annotation === 'MAP_KEY_VALUE') &&
      tree.children.length === 1 &&
      tree.children[0].children.length === 2
    ) {
      const entries = tree.children[0];
      const [keyTree, valueTree] = entries.children;
      const keyMapped = findMapped(mapped?.fields, 'key');
      const valueMapped = findMapped(mapped?.fields, 'value');
      node.mapEntries = {
        name: entries.element.name,
        key: build(keyTree, keyMapped, idOf(keyTree, keyMapped)),
        value: build(valueTree, valueMapped, idOf(valueTree, valueMapped)),
      };
    } else {
      node.children = tree.children.map((child) => {
        const childMapped = findMapped(mapped?.fields, child.element.name);
        return build(child, childMapped, idOf(child, childMapped));
      });
    }
    return node;
  };
  return root.children.map((child, position) => {
    const mapped = findMapped(nameMapping, child.element.name);
    // Java's fallback without ids or mapping: top-level position ids from 1, nested columns unresolved
    const id = hasIds ? child.element.field_id : nameMapping ? mapped?.fieldId : position + 1;
    return build(child, hasIds || nameMapping ? mapped : undefined, id);
  });
}

/** The footer with the annotations hyparquet would convert lossily removed (see header comment). */
function physicalMetadata(metadata: FileMetaData): FileMetaData {
  const schema = metadata.schema.map((element) => {
    const converted = element.converted_type;
    const logical = element.logical_type?.type;
    // hyparquet assembles lists only by the converted type, which some writers omit next to the logical type
    if (converted === 'LIST' || logical === 'LIST') return { ...element, converted_type: 'LIST' as const };
    if (converted === 'UTF8' || logical === 'STRING' || (converted === undefined && logical === undefined))
      return element;
    const copy: SchemaElement = { ...element };
    delete copy.converted_type;
    delete copy.logical_type;
    return copy;
  });
  return { ...metadata, schema };
}

// ---- read plan: which top-level columns to read and how to convert each value ----

type Convert = (raw: unknown) => unknown;

interface ReadColumn {
  /** Output field name. */
  name: string;
  /** Parquet top-level column to read, or undefined for a constant/metadata column. */
  source?: string;
  convert: Convert;
  /** For columns not read from the file: value per absolute row position. */
  fill?: (position: number) => unknown;
}

interface ReadPlan {
  location: string;
  metadata: FileMetaData;
  columns: ReadColumn[];
  sources: string[];
}

function planRead(metadata: FileMetaData, options: ReadDataFileOptions): ReadPlan {
  const { location } = options;
  const read = options.projection ? selectFields(options.schema, new Set(options.projection)) : options.schema;
  const nodes = fileNodes(metadata, options.nameMapping);
  const context: ReadContext = { location, constants: options.constants ?? new Map() };
  const columns: ReadColumn[] = read.fields.map((field) => {
    if (field.id === ROW_POSITION_FIELD_ID)
      return { name: field.name, convert: identity, fill: (position) => BigInt(position) };
    if (field.id === FILE_PATH_FIELD_ID) return { name: field.name, convert: identity, fill: () => location };
    const node = nodes.find((n) => n.id === field.id);
    if (!node) {
      const value = missingValue(context, field, field.name);
      return { name: field.name, convert: identity, fill: () => value };
    }
    return { name: field.name, source: node.name, convert: typeReader(context, field.type, node, field.name) };
  });
  const sources = [...new Set(columns.flatMap((c) => (c.source === undefined ? [] : [c.source])))];
  return { location, metadata: physicalMetadata(metadata), columns, sources };
}

/** The read schema restricted to the given field ids (a selected field keeps its whole subtree). */
function selectFields(schema: Schema, ids: Set<number>): Schema {
  const select = (type: IcebergType): IcebergType | undefined => {
    if (isStruct(type)) {
      const fields: NestedField[] = [];
      for (const field of type.fields) {
        if (ids.has(field.id)) fields.push(field);
        else {
          const inner = select(field.type);
          if (inner) fields.push({ ...field, type: inner });
        }
      }
      return fields.length ? { type: 'struct', fields } : undefined;
    }
    if (isList(type)) {
      if (ids.has(type.elementId)) return type;
      const element = select(type.element);
      return element ? { ...type, element } : undefined;
    }
    if (isMap(type)) {
      if (ids.has(type.keyId) || ids.has(type.valueId)) return type;
      const value = select(type.value);
      return value ? { ...type, value } : undefined;
    }
    return undefined;
  };
  const selected = select(schema) as StructType | undefined;
  return { ...schema, fields: selected?.fields ?? [] };
}

interface ReadContext {
  location: string;
  constants: Map<number, unknown>;
}

const identity: Convert = (raw) => raw;

function missingValue(context: ReadContext, field: NestedField, path: string): unknown {
  if (context.constants.has(field.id)) return context.constants.get(field.id);
  if (field.initialDefault !== undefined) return defaultValue(field.type, field.initialDefault, path);
  if (field.required)
    throw new IcebergFormatError(
      `${context.location}: required field '${path}' (id ${field.id}) is missing from the file`,
    );
  return null;
}

function typeReader(context: ReadContext, type: IcebergType, node: FileNode, path: string): Convert {
  const mismatch = (what: string) =>
    new IcebergFormatError(
      `${context.location}: field '${path}' is ${what} in the file and cannot be read as ${describeType(type)}`,
    );
  if (node.unsupported) throw mismatch(node.unsupported);
  if (isStruct(type)) {
    if (node.listElement || node.mapEntries || node.element.type !== undefined)
      throw mismatch(node.element.type ?? 'a list or map');
    const children = type.fields.map((field) => {
      const childPath = `${path}.${field.name}`;
      const child = node.children.find((c) => c.id === field.id);
      if (!child) {
        const value = missingValue(context, field, childPath);
        return { name: field.name, convert: (() => value) as Convert };
      }
      const convert = typeReader(context, field.type, child, childPath);
      const source = child.name;
      if (isInheritedName(source))
        return { name: field.name, convert: (raw: unknown) => convert(ownValue(raw as object, source)) };
      return { name: field.name, convert: (raw: unknown) => convert((raw as Record<string, unknown>)[source]) };
    });
    return (raw) => {
      if (raw === null || raw === undefined) return null;
      // Bare: a field named `__proto__` or `constructor` is a value like any other (see shared/util/bare-object.ts).
      const out = bareObject();
      for (const child of children) out[child.name] = child.convert(raw);
      return out;
    };
  }
  if (isList(type)) {
    const element = node.listElement;
    if (!element) throw mismatch('not a list');
    if (element.id !== type.elementId)
      throw idMismatch(context, path, `element id ${element.id ?? 'none'}`, `${type.elementId}`);
    const convert = typeReader(context, type.element, element, `${path}.element`);
    return (raw) => (raw === null || raw === undefined ? null : (raw as unknown[]).map(convert));
  }
  if (isMap(type)) {
    const entries = node.mapEntries;
    if (!entries) throw mismatch('not a map');
    if (entries.key.id !== type.keyId || entries.value.id !== type.valueId) {
      throw idMismatch(
        context,
        path,
        `key/value ids ${entries.key.id ?? 'none'}/${entries.value.id ?? 'none'}`,
        `${type.keyId}/${type.valueId}`,
      );
    }
    const key = typeReader(context, type.key, entries.key, `${path}.key`);
    const value = typeReader(context, type.value, entries.value, `${path}.value`);
    const { name } = entries;
    const keyName = entries.key.name;
    const valueName = entries.value.name;
    return (raw) => {
      if (raw === null || raw === undefined) return null;
      const out = new Map<unknown, unknown>();
      for (const entry of (raw as Record<string, Record<string, unknown>[]>)[name])
        out.set(key(entry[keyName]), value(entry[valueName]));
      return out;
    };
  }
  if (node.element.type === undefined) throw mismatch('a group');
  if (type === 'unknown') return () => null;
  const convert = primitiveReader(type, node.element, mismatch);
  return (raw) => (raw === null || raw === undefined ? null : convert(raw));
}

/** Nested ids that do not match: a foreign file, or one without ids whose nested columns need a name mapping. */
function idMismatch(context: ReadContext, path: string, found: string, expected: string): IcebergFormatError {
  return new IcebergFormatError(
    `${context.location}: '${path}' has ${found} in the file, expected ${expected}` +
      (found.includes('none') ? ' (a file without field ids needs a name mapping for nested columns)' : ''),
  );
}

function describeType(type: IcebergType): string {
  return typeof type === 'string' ? type : type.type;
}

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/** Converts one non-null physical value (as hyparquet decodes it without lossy annotations) to an Iceberg value. */
function primitiveReader(type: PrimitiveType, element: SchemaElement, mismatch: (what: string) => Error): Convert {
  const physical = element.type!;
  const unit = timeUnit(element);
  switch (type) {
    case 'boolean':
      if (physical !== 'BOOLEAN') throw mismatch(physical);
      return identity;
    case 'int':
    case 'date':
      if (physical !== 'INT32') throw mismatch(physical);
      return identity;
    case 'long':
      if (physical === 'INT32') return (raw) => BigInt(raw as number);
      if (physical !== 'INT64') throw mismatch(physical);
      return identity;
    case 'float':
      if (physical !== 'FLOAT') throw mismatch(physical);
      return identity;
    case 'double':
      if (physical !== 'FLOAT' && physical !== 'DOUBLE') throw mismatch(physical);
      return identity;
    case 'time':
      if (physical === 'INT32' && unit === 'MILLIS') return (raw) => BigInt(raw as number) * 1000n;
      if (physical !== 'INT64') throw mismatch(physical);
      return scaleTime(unit ?? 'MICROS', 'MICROS');
    case 'timestamp':
    case 'timestamptz':
    case 'timestamp_ns':
    case 'timestamptz_ns': {
      const target = type.endsWith('_ns') ? 'NANOS' : 'MICROS';
      if (physical === 'INT96') return scaleTime('NANOS', target);
      if (physical !== 'INT64') throw mismatch(physical);
      return scaleTime(unit ?? 'MICROS', target);
    }
    case 'string':
      if (physical !== 'BYTE_ARRAY' && physical !== 'FIXED_LEN_BYTE_ARRAY') throw mismatch(physical);
      return (raw) => (typeof raw === 'string' ? raw : utf8.decode(raw as Uint8Array));
    case 'uuid':
      if (physical !== 'FIXED_LEN_BYTE_ARRAY' || element.type_length !== 16) throw mismatch(physical);
      return (raw) => bytesToUuid(raw as Uint8Array);
    case 'binary':
      if (physical !== 'BYTE_ARRAY' && physical !== 'FIXED_LEN_BYTE_ARRAY') throw mismatch(physical);
      return (raw) => (typeof raw === 'string' ? utf8Encoder.encode(raw) : raw);
    default: {
      const decimal = decimalOf(type);
      if (decimal) {
        const scale = element.logical_type?.type === 'DECIMAL' ? element.logical_type.scale : element.scale;
        const precision = element.logical_type?.type === 'DECIMAL' ? element.logical_type.precision : element.precision;
        if ((scale ?? 0) !== decimal.scale || (precision ?? 0) > decimal.precision) {
          throw mismatch(`decimal(${precision}, ${scale})`);
        }
        if (physical === 'INT32') return (raw) => BigInt(raw as number);
        if (physical === 'INT64') return identity;
        if (physical === 'FIXED_LEN_BYTE_ARRAY' || physical === 'BYTE_ARRAY')
          return (raw) => minimalBytesToBigint(raw as Uint8Array);
        throw mismatch(physical);
      }
      const length = fixedLength(type);
      if (length !== undefined) {
        if (physical !== 'FIXED_LEN_BYTE_ARRAY' || element.type_length !== length)
          throw mismatch(`${physical}(${element.type_length ?? '?'})`);
        return identity;
      }
      throw mismatch(physical);
    }
  }
}

type TimeUnitName = 'MILLIS' | 'MICROS' | 'NANOS';

function timeUnit(element: SchemaElement): TimeUnitName | undefined {
  const logical = element.logical_type;
  if (logical?.type === 'TIMESTAMP' || logical?.type === 'TIME') return logical.unit;
  switch (element.converted_type) {
    case 'TIMESTAMP_MILLIS':
    case 'TIME_MILLIS':
      return 'MILLIS';
    case 'TIMESTAMP_MICROS':
    case 'TIME_MICROS':
      return 'MICROS';
    default:
      return undefined;
  }
}

const PER_SECOND: Record<TimeUnitName, bigint> = { MILLIS: 1_000n, MICROS: 1_000_000n, NANOS: 1_000_000_000n };

/** Rescales a bigint between time units; narrowing floors (so pre-1970 instants round down, like Java's floorDiv). */
function scaleTime(from: TimeUnitName, to: TimeUnitName): Convert {
  if (from === to) return identity;
  const a = PER_SECOND[from];
  const b = PER_SECOND[to];
  if (a < b) {
    const factor = b / a;
    return (raw) => (raw as bigint) * factor;
  }
  const divisor = a / b;
  return (raw) => {
    const v = raw as bigint;
    const q = v / divisor;
    return v < 0n && q * divisor !== v ? q - 1n : q;
  };
}

/**
 * An `initial-default` from its JSON single-value form (spec Appendix C) — primitives only, the only defaults a
 * primitive column added by schema evolution can have.
 */
function defaultValue(type: IcebergType, json: unknown, path: string): unknown {
  if (json === null) return null;
  const bad = () =>
    new IcebergFormatError(
      `field '${path}' has an initial-default ${String(json)} that is not a valid ${describeType(type)}`,
    );
  if (typeof type !== 'string')
    throw new IcebergFormatError(`field '${path}': initial-default of ${type.type} types is not supported`);
  switch (type) {
    case 'boolean':
      if (typeof json !== 'boolean') throw bad();
      return json;
    case 'int':
    case 'float':
    case 'double':
      if (typeof json !== 'number') throw bad();
      return json;
    case 'long':
      if (typeof json !== 'number' && typeof json !== 'bigint') throw bad();
      return BigInt(json);
    case 'string':
      if (typeof json !== 'string') throw bad();
      return json;
    case 'uuid':
      if (typeof json !== 'string') throw bad();
      return json.toLowerCase();
    case 'date': {
      const ms = typeof json === 'string' ? Date.parse(`${json}T00:00:00Z`) : NaN;
      if (Number.isNaN(ms)) throw bad();
      return ms / 86_400_000;
    }
    case 'time': {
      const match = typeof json === 'string' ? /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(json) : null;
      if (!match) throw bad();
      const [, h, m, s = '0', fraction = ''] = match;
      return (BigInt(h) * 3600n + BigInt(m) * 60n + BigInt(s)) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
    }
    case 'timestamp':
    case 'timestamptz':
    case 'timestamp_ns':
    case 'timestamptz_ns': {
      const match =
        typeof json === 'string'
          ? /^(.*T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$/.exec(json)
          : null;
      if (!match) throw bad();
      const [, whole, fraction = '', zone = 'Z'] = match;
      const ms = Date.parse(`${whole}${zone}`);
      if (Number.isNaN(ms)) throw bad();
      const nanos = BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
      return type.endsWith('_ns') ? nanos : scaleTime('NANOS', 'MICROS')(nanos);
    }
    case 'binary':
      if (typeof json !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(json)) throw bad();
      return Uint8Array.from(Buffer.from(json, 'hex'));
    default: {
      const decimal = decimalOf(type);
      if (decimal) {
        const match = typeof json === 'string' ? /^(-?)(\d+)(?:\.(\d+))?$/.exec(json) : null;
        if (!match || (match[3] ?? '').length !== decimal.scale) throw bad();
        const unscaled = BigInt(match[2] + (match[3] ?? ''));
        return match[1] ? -unscaled : unscaled;
      }
      const length = fixedLength(type);
      if (length !== undefined) {
        if (typeof json !== 'string' || json.length !== length * 2 || !/^[0-9a-fA-F]*$/.test(json)) throw bad();
        return Uint8Array.from(Buffer.from(json, 'hex'));
      }
      throw bad();
    }
  }
}

// ---- decoding ----

/** hyparquet hands INT96 timestamps to this parser; keep the nanoseconds as a bigint. */
const PARSERS = { timestampFromNanoseconds: (nanos: bigint) => nanos };
const DECOMPRESSORS = { ...decompressors, ZSTD: zstdDecompress };

async function readRange(
  file: AsyncBuffer,
  plan: ReadPlan,
  from: number,
  to: number,
): Promise<Record<string, unknown>[]> {
  const count = to - from;
  let decoded: unknown[][] = [];
  if (plan.sources.length) {
    await parquetRead({
      file,
      metadata: plan.metadata,
      columns: plan.sources,
      rowStart: from,
      rowEnd: to,
      rowFormat: 'array',
      utf8: false,
      parsers: PARSERS,
      compressors: DECOMPRESSORS,
      onComplete: (rows: unknown[][]) => {
        decoded = rows;
      },
    });
    if (decoded.length !== count)
      throw new Error(`decoded ${decoded.length} rows where rows ${from}..${to} were expected`);
  }
  const index = plan.columns.map((c) => (c.source === undefined ? -1 : plan.sources.indexOf(c.source)));
  const out = new Array<Record<string, unknown>>(count);
  for (let r = 0; r < count; r++) {
    const row = bareObject();
    const values = decoded[r];
    for (let c = 0; c < plan.columns.length; c++) {
      const column = plan.columns[c];
      row[column.name] = column.fill ? column.fill(from + r) : column.convert(values[index[c]]);
    }
    out[r] = row;
  }
  return out;
}
