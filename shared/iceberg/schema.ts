/**
 * Iceberg schemas and types: JSON form ↔ model, lookups by field id and by name.
 */
import type { IcebergType, ListType, MapType, NestedField, PrimitiveType, Schema, StructType } from './types.ts';

export class IcebergFormatError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IcebergFormatError';
  }
}

const SIMPLE_PRIMITIVES = new Set([
  'boolean',
  'int',
  'long',
  'float',
  'double',
  'date',
  'time',
  'timestamp',
  'timestamptz',
  'timestamp_ns',
  'timestamptz_ns',
  'string',
  'uuid',
  'binary',
  'unknown',
]);

export function isPrimitive(type: IcebergType): type is PrimitiveType {
  return typeof type === 'string';
}

export function isStruct(type: IcebergType): type is StructType {
  return typeof type === 'object' && type.type === 'struct';
}

export function isList(type: IcebergType): type is ListType {
  return typeof type === 'object' && type.type === 'list';
}

export function isMap(type: IcebergType): type is MapType {
  return typeof type === 'object' && type.type === 'map';
}

/** Precision and scale of a `decimal(P, S)` type, or undefined for other types. */
export function decimalOf(type: IcebergType): { precision: number; scale: number } | undefined {
  if (typeof type !== 'string') return undefined;
  const match = /^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(type);
  return match ? { precision: Number(match[1]), scale: Number(match[2]) } : undefined;
}

/** Length of a `fixed[L]` type, or undefined for other types. */
export function fixedLength(type: IcebergType): number | undefined {
  if (typeof type !== 'string') return undefined;
  const match = /^fixed\[\s*(\d+)\s*\]$/.exec(type);
  return match ? Number(match[1]) : undefined;
}

/** Canonical primitive spelling as Java writes it: `decimal(10, 2)`, `fixed[16]`. */
export function primitiveType(text: string): PrimitiveType {
  const lower = text.trim().toLowerCase();
  if (SIMPLE_PRIMITIVES.has(lower)) return lower as PrimitiveType;
  const decimal = decimalOf(lower as PrimitiveType);
  if (decimal) {
    if (decimal.precision < 1 || decimal.precision > 38 || decimal.scale > decimal.precision) {
      throw new IcebergFormatError(`invalid decimal type '${text}'`);
    }
    return `decimal(${decimal.precision}, ${decimal.scale})`;
  }
  const length = fixedLength(lower as PrimitiveType);
  if (length !== undefined) return `fixed[${length}]`;
  throw new IcebergFormatError(`unknown Iceberg type '${text}'`);
}

type JsonObject = Record<string, unknown>;

function asObject(value: unknown, what: string): JsonObject {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new IcebergFormatError(`${what} must be a JSON object`);
  return value as JsonObject;
}

function asInt(value: unknown, what: string): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw new IcebergFormatError(`${what} must be an integer, got ${String(value)}`);
  return n;
}

export function typeFromJson(json: unknown): IcebergType {
  if (typeof json === 'string') return primitiveType(json);
  const obj = asObject(json, 'type');
  switch (obj.type) {
    case 'struct':
      return structFromJson(obj);
    case 'list':
      return {
        type: 'list',
        elementId: asInt(obj['element-id'], 'list element-id'),
        elementRequired: Boolean(obj['element-required']),
        element: typeFromJson(obj.element),
      };
    case 'map':
      return {
        type: 'map',
        keyId: asInt(obj['key-id'], 'map key-id'),
        key: typeFromJson(obj.key),
        valueId: asInt(obj['value-id'], 'map value-id'),
        valueRequired: Boolean(obj['value-required']),
        value: typeFromJson(obj.value),
      };
    default:
      throw new IcebergFormatError(`unknown nested type '${String(obj.type)}'`);
  }
}

function structFromJson(obj: JsonObject): StructType {
  if (!Array.isArray(obj.fields)) throw new IcebergFormatError('struct type must have a fields array');
  return { type: 'struct', fields: obj.fields.map(fieldFromJson) };
}

function fieldFromJson(json: unknown): NestedField {
  const obj = asObject(json, 'struct field');
  if (typeof obj.name !== 'string') throw new IcebergFormatError('struct field must have a name');
  const field: NestedField = {
    id: asInt(obj.id, `field '${obj.name}' id`),
    name: obj.name,
    required: Boolean(obj.required),
    type: typeFromJson(obj.type),
  };
  if (typeof obj.doc === 'string') field.doc = obj.doc;
  if (obj['initial-default'] !== undefined) field.initialDefault = obj['initial-default'];
  if (obj['write-default'] !== undefined) field.writeDefault = obj['write-default'];
  return field;
}

export function schemaFromJson(json: unknown): Schema {
  const obj = asObject(json, 'schema');
  const struct = structFromJson(obj);
  const schema: Schema = {
    ...struct,
    schemaId: obj['schema-id'] === undefined ? 0 : asInt(obj['schema-id'], 'schema-id'),
  };
  if (Array.isArray(obj['identifier-field-ids']) && obj['identifier-field-ids'].length) {
    schema.identifierFieldIds = obj['identifier-field-ids'].map((id) => asInt(id, 'identifier-field-id'));
  }
  return schema;
}

export function typeToJson(type: IcebergType): unknown {
  if (typeof type === 'string') return type;
  switch (type.type) {
    case 'struct':
      return { type: 'struct', fields: type.fields.map(fieldToJson) };
    case 'list':
      return {
        type: 'list',
        'element-id': type.elementId,
        element: typeToJson(type.element),
        'element-required': type.elementRequired,
      };
    case 'map':
      return {
        type: 'map',
        'key-id': type.keyId,
        key: typeToJson(type.key),
        'value-id': type.valueId,
        value: typeToJson(type.value),
        'value-required': type.valueRequired,
      };
  }
}

function fieldToJson(field: NestedField): unknown {
  return {
    id: field.id,
    name: field.name,
    required: field.required,
    type: typeToJson(field.type),
    ...(field.doc !== undefined ? { doc: field.doc } : {}),
    ...(field.initialDefault !== undefined ? { 'initial-default': field.initialDefault } : {}),
    ...(field.writeDefault !== undefined ? { 'write-default': field.writeDefault } : {}),
  };
}

export function schemaToJson(schema: Schema): Record<string, unknown> {
  return {
    type: 'struct',
    'schema-id': schema.schemaId,
    ...(schema.identifierFieldIds?.length ? { 'identifier-field-ids': schema.identifierFieldIds } : {}),
    fields: schema.fields.map(fieldToJson),
  };
}

/** A field anywhere in a schema, with the names leading to it (list elements are `element`, maps `key`/`value`). */
export interface IndexedField {
  id: number;
  path: string[];
  type: IcebergType;
  required: boolean;
  /** The struct field, when this id names one (not a list element or map key/value). */
  field?: NestedField;
}

/** Every field id in a type tree → its field. */
export function indexById(struct: StructType): Map<number, IndexedField> {
  const index = new Map<number, IndexedField>();
  const visit = (type: IcebergType, path: string[]) => {
    if (isStruct(type)) {
      for (const field of type.fields) {
        const fieldPath = [...path, field.name];
        index.set(field.id, { id: field.id, path: fieldPath, type: field.type, required: field.required, field });
        visit(field.type, fieldPath);
      }
    } else if (isList(type)) {
      const elementPath = [...path, 'element'];
      index.set(type.elementId, {
        id: type.elementId,
        path: elementPath,
        type: type.element,
        required: type.elementRequired,
      });
      visit(type.element, elementPath);
    } else if (isMap(type)) {
      index.set(type.keyId, { id: type.keyId, path: [...path, 'key'], type: type.key, required: true });
      index.set(type.valueId, {
        id: type.valueId,
        path: [...path, 'value'],
        type: type.value,
        required: type.valueRequired,
      });
      visit(type.key, [...path, 'key']);
      visit(type.value, [...path, 'value']);
    }
  };
  visit(struct, []);
  return index;
}

/** A top-level or nested struct field by dotted name (`a.b.c`), or undefined. */
export function findFieldByName(struct: StructType, name: string): NestedField | undefined {
  let current: StructType = struct;
  const parts = name.split('.');
  for (let i = 0; i < parts.length; i++) {
    const field = current.fields.find((f) => f.name === parts[i]);
    if (!field) return undefined;
    if (i === parts.length - 1) return field;
    if (!isStruct(field.type)) return undefined;
    current = field.type;
  }
  return undefined;
}

/** The highest field id used anywhere in a type tree (0 for an empty struct). */
export function highestFieldId(type: IcebergType): number {
  if (isStruct(type)) return type.fields.reduce((max, f) => Math.max(max, f.id, highestFieldId(f.type)), 0);
  if (isList(type)) return Math.max(type.elementId, highestFieldId(type.element));
  if (isMap(type)) return Math.max(type.keyId, type.valueId, highestFieldId(type.key), highestFieldId(type.value));
  return 0;
}
