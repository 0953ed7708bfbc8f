/**
 * Iceberg types ↔ Avro schemas, following Java's `TypeToSchema`/`AvroSchemaUtil` (Iceberg 1.8.1) so the schemas we
 * write are the ones Java writes: records named `r<fieldId>`, optional fields as `["null", T]` with `default: null`,
 * `field-id`/`element-id`/`key-id`/`value-id` attributes, int-keyed maps as arrays of `k<id>_v<id>` records, decimals
 * as fixed `decimal_P_S`, uuid as fixed `uuid_fixed`.
 */
import type { AvroComplexSchema, AvroField, AvroSchema } from './avro.ts';
import { decimalRequiredBytes } from './conversions.ts';
import { decimalOf, fixedLength, isList, isMap, isStruct } from './schema.ts';
import type { IcebergType, PrimitiveType, StructType } from './types.ts';

/** The Avro schema Java writes for an Iceberg struct, as a record named `recordName`. */
export function avroSchemaOf(struct: StructType, recordName: string): AvroComplexSchema {
  const defined = new Set<string>();
  return structSchema(struct, recordName, defined);
}

function structSchema(struct: StructType, recordName: string, defined: Set<string>): AvroComplexSchema {
  defined.add(recordName);
  const fields: AvroField[] = struct.fields.map((field) => {
    const valid = validAvroName(field.name);
    const type = typeSchema(field.type, field.id, defined);
    const out: AvroField = {
      name: valid ? field.name : sanitizeAvroName(field.name),
      type: field.required ? type : option(type),
    };
    if (field.doc !== undefined) out.doc = field.doc;
    if (!field.required) out.default = null;
    if (!valid) out['iceberg-field-name'] = field.name;
    out['field-id'] = field.id;
    return out;
  });
  return { type: 'record', name: recordName, fields };
}

function option(schema: AvroSchema): AvroSchema {
  return ['null', schema];
}

/** `enclosingId` is the id of the field, element or map key/value holding the type: it names nested records. */
function typeSchema(type: IcebergType, enclosingId: number, defined: Set<string>): AvroSchema {
  if (isStruct(type)) return structSchema(type, `r${enclosingId}`, defined);
  if (isList(type)) {
    const element = typeSchema(type.element, type.elementId, defined);
    return { type: 'array', items: type.elementRequired ? element : option(element), 'element-id': type.elementId };
  }
  if (isMap(type)) {
    const key = typeSchema(type.key, type.keyId, defined);
    const value = typeSchema(type.value, type.valueId, defined);
    const valueSchema = type.valueRequired ? value : option(value);
    if (key === 'string') return { type: 'map', values: valueSchema, 'key-id': type.keyId, 'value-id': type.valueId };
    const valueField: AvroField = { name: 'value', type: valueSchema };
    if (!type.valueRequired) valueField.default = null;
    valueField['field-id'] = type.valueId;
    const name = `k${type.keyId}_v${type.valueId}`;
    defined.add(name);
    return {
      type: 'array',
      items: { type: 'record', name, fields: [{ name: 'key', type: key, 'field-id': type.keyId }, valueField] },
      logicalType: 'map',
    };
  }
  return primitiveSchema(type, defined);
}

function primitiveSchema(type: PrimitiveType, defined: Set<string>): AvroSchema {
  switch (type) {
    case 'unknown':
      return 'null';
    case 'boolean':
    case 'int':
    case 'long':
    case 'float':
    case 'double':
    case 'string':
      return type;
    case 'binary':
      return 'bytes';
    case 'date':
      return { type: 'int', logicalType: 'date' };
    case 'time':
      return { type: 'long', logicalType: 'time-micros' };
    case 'timestamp':
    case 'timestamptz':
      return { type: 'long', logicalType: 'timestamp-micros', 'adjust-to-utc': type === 'timestamptz' };
    case 'timestamp_ns':
    case 'timestamptz_ns':
      return { type: 'long', logicalType: 'timestamp-nanos', 'adjust-to-utc': type === 'timestamptz_ns' };
    case 'uuid':
      return named(defined, { type: 'fixed', name: 'uuid_fixed', size: 16, logicalType: 'uuid' });
    default: {
      const decimal = decimalOf(type);
      if (decimal) {
        const { precision, scale } = decimal;
        return named(defined, {
          type: 'fixed',
          name: `decimal_${precision}_${scale}`,
          size: decimalRequiredBytes(precision),
          logicalType: 'decimal',
          precision,
          scale,
        });
      }
      const length = fixedLength(type)!;
      return named(defined, { type: 'fixed', name: `fixed_${length}`, size: length });
    }
  }
}

/** Avro defines a named type once; later uses are references by name (as Java's schema printer writes them). */
function named(defined: Set<string>, schema: AvroComplexSchema): AvroSchema {
  const name = schema.name!;
  if (defined.has(name)) return name;
  defined.add(name);
  return schema;
}

/** Java `AvroSchemaUtil.validAvroName`: a letter or `_`, then letters, digits or `_` (Unicode letters allowed). */
export function validAvroName(name: string): boolean {
  return /^[\p{L}_][\p{L}\p{Nd}_]*$/u.test(name);
}

/** Java `AvroSchemaUtil.sanitize`: a leading digit becomes `_<digit>`, any other invalid char `_x<HEX>`. */
export function sanitizeAvroName(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    const ok = i === 0 ? /[\p{L}_]/u.test(c) : /[\p{L}\p{Nd}_]/u.test(c);
    if (ok) out += c;
    else if (/\p{Nd}/u.test(c)) out += `_${c}`;
    else out += `_x${c.charCodeAt(0).toString(16).toUpperCase()}`;
  }
  return out;
}

/**
 * The Iceberg primitive type an Avro schema stores (logical types included), for reading a value when the table
 * schema is unavailable. Options (`["null", T]`) are unwrapped; named references resolve to `undefined`.
 */
export function icebergTypeOfAvro(schema: AvroSchema): PrimitiveType | undefined {
  if (Array.isArray(schema)) {
    const branches = schema.filter((b) => b !== 'null');
    return branches.length === 1 ? icebergTypeOfAvro(branches[0]) : undefined;
  }
  const s: AvroComplexSchema = typeof schema === 'string' ? { type: schema } : schema;
  if (typeof s.type !== 'string') return icebergTypeOfAvro(s.type);
  const logical = s.logicalType;
  switch (s.type) {
    case 'boolean':
    case 'int':
    case 'long':
    case 'float':
    case 'double':
      if (logical === 'date') return 'date';
      if (logical === 'time-micros') return 'time';
      if (logical === 'timestamp-micros') return s['adjust-to-utc'] === false ? 'timestamp' : 'timestamptz';
      if (logical === 'local-timestamp-micros') return 'timestamp';
      if (logical === 'timestamp-nanos') return s['adjust-to-utc'] === false ? 'timestamp_ns' : 'timestamptz_ns';
      if (logical === 'local-timestamp-nanos') return 'timestamp_ns';
      return s.type;
    case 'string':
      return logical === 'uuid' ? 'uuid' : 'string';
    case 'bytes':
    case 'fixed':
      if (logical === 'decimal') return `decimal(${Number(s.precision)}, ${Number(s.scale ?? 0)})`;
      if (logical === 'uuid') return 'uuid';
      return s.type === 'fixed' ? `fixed[${Number(s.size)}]` : 'binary';
    default:
      return undefined;
  }
}
