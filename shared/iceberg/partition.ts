/**
 * Helpers on partition specs: the partition struct type, a row's partition tuple, Java's partition path, spec
 * equivalence.
 */
import { indexById, IcebergFormatError, isPrimitive, isStruct } from './schema.ts';
import {
  canTransform,
  parseTransform,
  toHumanString,
  transformFunction,
  transformResultType,
  transformToString,
} from './transforms.ts';
import type { NestedField, PartitionSpec, PartitionValues, PrimitiveType, Schema, StructType } from './types.ts';
import { ownValue } from '../util/bare-object.ts';

/** The spec of an unpartitioned table (Java's `PartitionSpec.unpartitioned()`); shared, never mutate it. */
export const unpartitioned: PartitionSpec = { specId: 0, fields: [] };

/** True when the spec has no fields or only `void` ones: every file lands in one partition. */
export function isUnpartitioned(spec: PartitionSpec): boolean {
  return spec.fields.every((field) => parseTransform(field.transform).kind === 'void');
}

/** The primitive type of a partition field's source column. */
export function sourceTypeOf(schema: Schema, sourceId: number): PrimitiveType {
  const source = indexById(schema).get(sourceId);
  if (!source)
    throw new IcebergFormatError(`partition source field id ${sourceId} is not in schema ${schema.schemaId}`);
  if (!isPrimitive(source.type))
    throw new IcebergFormatError(`partition source field '${source.path.join('.')}' is not a primitive`);
  return source.type;
}

/**
 * The partition tuple's struct: one optional field per partition field, named after it, with the partition field id
 * and the transform's result type — the type of `data_file.partition` in manifests.
 */
export function partitionType(spec: PartitionSpec, schema: Schema): StructType {
  const fields: NestedField[] = spec.fields.map((field) => ({
    id: field.fieldId,
    name: field.name,
    required: false,
    type: transformResultType(field.transform, sourceTypeOf(schema, field.sourceId)),
  }));
  return { type: 'struct', fields };
}

type Partitioner = (row: Record<string, unknown>) => PartitionValues;

const partitioners = new WeakMap<PartitionSpec, WeakMap<Schema, Partitioner>>();

/**
 * The partition tuple of a row (an object keyed by field name, nested structs as objects). Compiled once per
 * (spec, schema) pair, so calling it per row is cheap.
 */
export function partitionOf(spec: PartitionSpec, schema: Schema, row: Record<string, unknown>): PartitionValues {
  let bySchema = partitioners.get(spec);
  if (!bySchema) partitioners.set(spec, (bySchema = new WeakMap()));
  let partitioner = bySchema.get(schema);
  if (!partitioner) bySchema.set(schema, (partitioner = compilePartitioner(spec, schema)));
  return partitioner(row);
}

function compilePartitioner(spec: PartitionSpec, schema: Schema): Partitioner {
  const index = indexById(schema);
  const getters = spec.fields.map((field) => {
    const source = index.get(field.sourceId);
    if (!source)
      throw new IcebergFormatError(`partition field '${field.name}': source id ${field.sourceId} not in schema`);
    assertStructPath(schema, source.path);
    const sourceType = sourceTypeOf(schema, field.sourceId);
    const apply = transformFunction(field.transform, sourceType);
    const path = source.path;
    return (row: Record<string, unknown>) => {
      let value: unknown = row;
      for (const name of path) {
        if (value === null || value === undefined) return null;
        value = ownValue(value as object, name);
      }
      return value === null || value === undefined ? null : apply(value);
    };
  });
  return (row) => getters.map((get) => get(row));
}

/** Partition sources must be reachable through structs only (not inside lists or maps). */
function assertStructPath(schema: Schema, path: string[]): void {
  let struct: StructType = schema;
  for (let i = 0; i < path.length - 1; i++) {
    const field = struct.fields.find((f) => f.name === path[i]);
    if (!field || !isStruct(field.type)) {
      throw new IcebergFormatError(`partition source '${path.join('.')}' is nested in a list or map`);
    }
    struct = field.type;
  }
}

/**
 * Java's `PartitionSpec.partitionToPath`: `name=value/...`, both URL-encoded (`URLEncoder`, UTF-8: space → `+`),
 * values as the transform's human string, null → `null`. Informational only: readers use the manifest tuple.
 */
export function partitionPath(spec: PartitionSpec, schema: Schema, values: PartitionValues): string {
  if (values.length !== spec.fields.length) {
    throw new IcebergFormatError(
      `partition tuple has ${values.length} values, spec ${spec.specId} has ${spec.fields.length} fields`,
    );
  }
  return spec.fields
    .map((field, i) => {
      const text = toHumanString(field.transform, sourceTypeOf(schema, field.sourceId), values[i]);
      return `${urlEncode(field.name)}=${urlEncode(text)}`;
    })
    .join('/');
}

/** `java.net.URLEncoder.encode(s, UTF_8)`: keeps `A-Za-z0-9.-*_`, space → `+`, everything else %XX. */
export function urlEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/**
 * Java's `PartitionSpec.compatibleWith`: the same fields in the same order (source id, transform, name), regardless
 * of spec id and partition field ids. A table should reuse such a spec instead of adding a new one.
 */
export function specsEquivalent(a: PartitionSpec, b: PartitionSpec): boolean {
  if (a.fields.length !== b.fields.length) return false;
  return a.fields.every((field, i) => {
    const other = b.fields[i];
    return (
      field.sourceId === other.sourceId &&
      field.name === other.name &&
      transformToString(parseTransform(field.transform)) === transformToString(parseTransform(other.transform))
    );
  });
}

/**
 * Whether files of the two specs are laid out alike: the same source columns and transforms in the same order, field
 * names aside (another engine may name `x_trunc` what floe names `x_truncate`).
 */
export function sameLayout(a: PartitionSpec, b: PartitionSpec): boolean {
  if (a.fields.length !== b.fields.length) return false;
  const transform = (t: string) => transformToString(parseTransform(t));
  return a.fields.every(
    (f, i) => f.sourceId === b.fields[i].sourceId && transform(f.transform) === transform(b.fields[i].transform),
  );
}

/** Checks every field's transform against its source type; throws `IcebergFormatError` naming the first bad field. */
export function validateSpec(spec: PartitionSpec, schema: Schema): void {
  const names = new Set<string>();
  for (const field of spec.fields) {
    if (names.has(field.name))
      throw new IcebergFormatError(`spec ${spec.specId}: duplicate partition field name '${field.name}'`);
    names.add(field.name);
    const sourceType = sourceTypeOf(schema, field.sourceId);
    if (!canTransform(field.transform, sourceType)) {
      throw new IcebergFormatError(
        `spec ${spec.specId}: field '${field.name}': transform '${field.transform}' cannot apply to ${sourceType}`,
      );
    }
  }
}
