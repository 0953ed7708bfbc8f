/**
 * Name mapping (table property `schema.name-mapping.default`): resolves columns of data files written without field
 * ids (imported files) by name. JSON form: `[{"field-id": 1, "names": ["id", "record_id"]}, {"field-id": 3,
 * "names": ["location"], "fields": [...]}]`; list elements are mapped under the name `element`, map keys and values
 * under `key` and `value`, as Java's `MappingUtil` creates them.
 */
import { parseJson } from '../util/lossless-json.ts';
import { IcebergFormatError } from './schema.ts';

export const NAME_MAPPING_PROPERTY = 'schema.name-mapping.default';

export interface MappedField {
  /** Absent when the mapping only names a field without assigning it an id. */
  fieldId?: number;
  names: string[];
  fields: MappedField[];
}

export type NameMapping = MappedField[];

export function parseNameMapping(text: string): NameMapping {
  let json: unknown;
  try {
    json = parseJson(text);
  } catch (err) {
    throw new IcebergFormatError(`invalid name mapping: ${(err as Error).message}`, { cause: err });
  }
  // some writers wrap the list as {"type": "struct", "fields": [...]}; Java only accepts the bare list
  if (
    json &&
    typeof json === 'object' &&
    !Array.isArray(json) &&
    Array.isArray((json as { fields?: unknown }).fields)
  ) {
    json = (json as { fields: unknown }).fields;
  }
  return mappedFields(json, 'name mapping');
}

function mappedFields(json: unknown, what: string): MappedField[] {
  if (!Array.isArray(json)) throw new IcebergFormatError(`${what} must be a JSON array`);
  return json.map((entry, i) => {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry))
      throw new IcebergFormatError(`${what}[${i}] must be an object`);
    const obj = entry as Record<string, unknown>;
    const id = obj['field-id'];
    if (id !== undefined && id !== null && !(typeof id === 'number' && Number.isInteger(id))) {
      throw new IcebergFormatError(`${what}[${i}] field-id must be an integer`);
    }
    const names = obj.names;
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))
      throw new IcebergFormatError(`${what}[${i}] names must be an array of strings`);
    return {
      ...(typeof id === 'number' ? { fieldId: id } : {}),
      names: names as string[],
      fields: obj.fields === undefined || obj.fields === null ? [] : mappedFields(obj.fields, `${what}[${i}].fields`),
    };
  });
}

/** The mapped field of one level that lists `name`, if any. */
export function findMapped(level: MappedField[] | undefined, name: string): MappedField | undefined {
  return level?.find((field) => field.names.includes(name));
}
