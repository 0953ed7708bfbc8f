/**
 * Iceberg schema → Parquet schema, the way Iceberg Java (`TypeToMessageType`) writes it: every group and leaf that
 * stands for an Iceberg field carries its `field_id`; lists are 3-level `LIST` groups (`list` / `element`), maps
 * 3-level `MAP` groups (`key_value` / `key` / `value`); struct field names that are not valid Avro names are
 * sanitized like Java's `AvroSchemaUtil.makeCompatibleName` (`Breed Name` → `Breed_x20Name`), since readers resolve
 * columns by field id, not by name.
 */
import type { SchemaElement } from 'hyparquet';
import { decimalRequiredBytes } from './conversions.ts';
import { decimalOf, fixedLength, IcebergFormatError, isList, isMap, isStruct } from './schema.ts';
import type { IcebergType, PrimitiveType, Schema } from './types.ts';

/** Java's root message name. */
const ROOT_NAME = 'table';

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/**
 * The Parquet column name Java writes for an Iceberg field name. Java tests UTF-16 units (`Character.isLetter(char)`),
 * so each half of a surrogate pair is escaped separately; we do the same to produce identical names.
 */
export function parquetName(name: string): string {
  if (name.length === 0) throw new IcebergFormatError('empty field name');
  // JavaScript Parquet readers (hyparquet) assemble struct values into plain objects, where a `__proto__` key replaces
  // the prototype instead of storing the column: escape its first underscore (readers resolve by field id anyway).
  if (name === '__proto__') return '_x5F_proto__';
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return name;
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const unit = name[i];
    const letter = LETTER.test(unit) || unit === '_';
    if (letter || (i > 0 && DIGIT.test(unit))) out += unit;
    else if (DIGIT.test(unit)) out += `_${unit}`;
    else out += `_x${unit.charCodeAt(0).toString(16).toUpperCase()}`;
  }
  return out;
}

/** Whether a column of this type is written to data files (v3 `unknown` columns are always null and never stored). */
export function isStored(type: IcebergType): boolean {
  return type !== 'unknown';
}

/** The flat, depth-first Parquet schema (hyparquet `SchemaElement[]`) of an Iceberg schema. */
export function parquetSchemaOf(schema: Schema): SchemaElement[] {
  const fields = schema.fields.filter((f) => isStored(f.type));
  const out: SchemaElement[] = [{ name: ROOT_NAME, num_children: fields.length }];
  for (const field of fields) appendType(out, parquetName(field.name), field.type, field.required, field.id);
  return out;
}

function appendType(out: SchemaElement[], name: string, type: IcebergType, required: boolean, fieldId: number): void {
  const repetition_type = required ? 'REQUIRED' : 'OPTIONAL';
  if (isStruct(type)) {
    const fields = type.fields.filter((f) => isStored(f.type));
    if (!fields.length)
      throw new IcebergFormatError(
        `struct field '${name}' (id ${fieldId}) has no stored fields: Parquet cannot write an empty group`,
      );
    out.push({ name, repetition_type, num_children: fields.length, field_id: fieldId });
    for (const field of fields) appendType(out, parquetName(field.name), field.type, field.required, field.id);
  } else if (isList(type)) {
    out.push({
      name,
      repetition_type,
      num_children: 1,
      field_id: fieldId,
      converted_type: 'LIST',
      logical_type: { type: 'LIST' },
    });
    out.push({ name: 'list', repetition_type: 'REPEATED', num_children: 1 });
    appendType(out, 'element', type.element, type.elementRequired, type.elementId);
  } else if (isMap(type)) {
    out.push({
      name,
      repetition_type,
      num_children: 1,
      field_id: fieldId,
      converted_type: 'MAP',
      logical_type: { type: 'MAP' },
    });
    out.push({ name: 'key_value', repetition_type: 'REPEATED', num_children: 2 });
    appendType(out, 'key', type.key, true, type.keyId);
    appendType(out, 'value', type.value, type.valueRequired, type.valueId);
  } else {
    out.push({ name, repetition_type, field_id: fieldId, ...primitiveElement(type) });
  }
}

/** Physical and logical type of a primitive (SPEC-NOTES §6). Converted types only where they mean the same thing. */
function primitiveElement(type: PrimitiveType): Omit<SchemaElement, 'name'> {
  switch (type) {
    case 'boolean':
      return { type: 'BOOLEAN' };
    case 'int':
      return { type: 'INT32' };
    case 'long':
      return { type: 'INT64' };
    case 'float':
      return { type: 'FLOAT' };
    case 'double':
      return { type: 'DOUBLE' };
    case 'date':
      return { type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' } };
    // Converted TIME_MICROS / TIMESTAMP_MICROS imply isAdjustedToUTC=true (parquet-format), so only tz types get them.
    case 'time':
      return { type: 'INT64', logical_type: { type: 'TIME', isAdjustedToUTC: false, unit: 'MICROS' } };
    case 'timestamp':
      return { type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MICROS' } };
    case 'timestamptz':
      return {
        type: 'INT64',
        converted_type: 'TIMESTAMP_MICROS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
      };
    case 'timestamp_ns':
      return { type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'NANOS' } };
    case 'timestamptz_ns':
      return { type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'NANOS' } };
    case 'string':
      return { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case 'uuid':
      return { type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16, logical_type: { type: 'UUID' } };
    case 'binary':
      return { type: 'BYTE_ARRAY' };
    default: {
      const decimal = decimalOf(type);
      if (decimal) {
        const { precision, scale } = decimal;
        const annotation = {
          converted_type: 'DECIMAL' as const,
          scale,
          precision,
          logical_type: { type: 'DECIMAL' as const, scale, precision },
        };
        if (precision <= 9) return { type: 'INT32', ...annotation };
        if (precision <= 18) return { type: 'INT64', ...annotation };
        return { type: 'FIXED_LEN_BYTE_ARRAY', type_length: decimalRequiredBytes(precision), ...annotation };
      }
      const length = fixedLength(type);
      if (length !== undefined) return { type: 'FIXED_LEN_BYTE_ARRAY', type_length: length };
      throw new IcebergFormatError(`type '${type}' cannot be written to Parquet`);
    }
  }
}
