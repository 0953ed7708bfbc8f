/**
 * Helpers for the Parquet tests: the fixture tables' schemas, and DuckDB (`@duckdb/node-api`, Parquet only) as an
 * independent reader and inspector of the files we write and read.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decimalOf, isList, isMap, isStruct, schemaFromJson } from '../../shared/iceberg/schema.ts';
import type { IcebergType, Schema } from '../../shared/iceberg/types.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';

export function fixturePath(relative: string): string {
  return path.join(ICEBERG_FIXTURES, relative);
}

export function fixtureBytes(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(relative)));
}

interface MetadataJson {
  schemas: unknown[];
  'current-schema-id': number;
  properties?: Record<string, string>;
}

/** A table's schema (current, or by id) from one of its metadata JSON files, parsed without the lead's metadata.ts. */
export function tableSchema(metadataRelative: string, schemaId?: number): Schema {
  const json = parseJson<MetadataJson>(readFileSync(fixturePath(metadataRelative)));
  const schemas = json.schemas.map(schemaFromJson);
  const id = schemaId ?? json['current-schema-id'];
  const schema = schemas.find((s) => s.schemaId === id);
  if (!schema) throw new Error(`${metadataRelative} has no schema ${id}`);
  return schema;
}

export function tableProperties(metadataRelative: string): Record<string, string> {
  return parseJson<MetadataJson>(readFileSync(fixturePath(metadataRelative))).properties ?? {};
}

export interface DuckDB {
  rows(sql: string): Promise<Record<string, unknown>[]>;
  close(): void;
}

/** An in-memory DuckDB; rows come back JSON-shaped (64-bit and decimal values as strings). */
export async function openDuckDB(): Promise<DuckDB> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection: DuckDBConnection = await instance.connect();
  return {
    async rows(sql) {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

export const sqlString = (text: string) => `'${text.replace(/'/g, "''")}'`;
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * A DuckDB SQL expression that renders a Parquet column in the canonical form `canonical()` gives our values:
 * timestamps as epoch µs, dates as epoch days, decimals as unscaled integers, uuids as text, binary as hex.
 */
export function canonicalSql(column: string, type: IcebergType): string {
  const c = ident(column);
  if (typeof type !== 'string') return c;
  if (type === 'date') return `datediff('day', DATE '1970-01-01', ${c})::INTEGER`;
  if (type === 'timestamp' || type === 'timestamptz') return `epoch_us(${c})`;
  if (type === 'time') return `epoch_us(DATE '1970-01-01' + ${c})`;
  if (type === 'uuid') return `CAST(${c} AS VARCHAR)`;
  if (type === 'binary' || type.startsWith('fixed')) return `hex(${c})`;
  const decimal = decimalOf(type);
  if (decimal)
    return decimal.scale ? `CAST(replace(CAST(${c} AS VARCHAR), '.', '') AS HUGEINT)` : `CAST(${c} AS HUGEINT)`;
  return c;
}

/** Our value in the JSON shape DuckDB returns for `canonicalSql` (bigints as strings, bytes as hex, maps as entries). */
export function canonical(value: unknown, type: IcebergType): unknown {
  if (value === null || value === undefined) return null;
  if (isMap(type))
    return [...(value as Map<unknown, unknown>)].map(([k, v]) => ({
      key: canonical(k, type.key),
      value: canonical(v, type.value),
    }));
  if (isList(type)) return (value as unknown[]).map((v) => canonical(v, type.element));
  if (isStruct(type))
    return Object.fromEntries(
      type.fields.map((f) => [f.name, canonical((value as Record<string, unknown>)[f.name], f.type)]),
    );
  if (typeof value === 'bigint') return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex').toUpperCase();
  return value;
}
