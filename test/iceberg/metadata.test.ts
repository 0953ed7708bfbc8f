import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { assignFreshIds, canPromote, setCurrentSchema, unionByName } from '../../shared/iceberg/evolution.ts';
import {
  ancestors,
  metadataFileLocation,
  metadataVersion,
  newTableMetadata,
  parseTableMetadata,
  serializeTableMetadata,
  snapshotForRef,
} from '../../shared/iceberg/metadata.ts';
import type { Schema } from '../../shared/iceberg/types.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';

const fixture = (name: string) => readFile(path.join(ICEBERG_FIXTURES, name), 'utf8');

describe('table metadata JSON', () => {
  it("reads Java's canonical v2 test file and writes it back losslessly, in Java's key order", async () => {
    const metadata = parseTableMetadata(await fixture('apache-iceberg/TableMetadataV2Valid.json'));
    expect(metadata.formatVersion).toBe(2);
    expect(metadata.currentSnapshotId).toBe(3055729675574597004n);
    expect(ancestors(metadata, metadata.currentSnapshotId).map((s) => s.snapshotId)).toEqual([
      3055729675574597004n,
      3051729675574597004n,
    ]);
    expect(snapshotForRef(metadata, 'main')?.snapshotId).toBe(3055729675574597004n);
    const text = serializeTableMetadata(metadata);
    expect(Object.keys(JSON.parse(text)).slice(0, 6)).toEqual([
      'format-version',
      'table-uuid',
      'location',
      'last-sequence-number',
      'last-updated-ms',
      'last-column-id',
    ]);
    // Java always writes `statistics` (empty here); nothing else changes
    expect(parseTableMetadata(text)).toEqual({ ...metadata, statistics: [] });
  });

  it('reads v1 metadata (single schema and spec, -1 for no snapshot) and refuses versions it does not know', async () => {
    const v1 = parseTableMetadata(await fixture('apache-iceberg/TableMetadataV1Valid.json'));
    expect(v1.schemas).toHaveLength(1);
    expect(v1.partitionSpecs[0].fields[0]).toMatchObject({ fieldId: 1000, transform: 'identity' });
    expect(v1.lastPartitionId).toBe(1000);
    expect(v1.currentSnapshotId).toBeUndefined();
    await expect(async () =>
      parseTableMetadata(await fixture('apache-iceberg/TableMetadataV3ValidMinimal.json'), 'v3.json'),
    ).rejects.toThrow(/unsupported format-version 3/);
  });

  it('creates tables as Java does and names metadata files %05d-<uuid>.metadata.json', () => {
    const schema: Schema = {
      type: 'struct',
      schemaId: 0,
      fields: [
        { id: 1, name: 'a', required: true, type: 'long' },
        {
          id: 2,
          name: 'b',
          required: false,
          type: { type: 'list', elementId: 3, elementRequired: false, element: 'string' },
        },
      ],
    };
    const metadata = newTableMetadata({ location: 's3://bucket/ns/t_0a1b/', schema });
    expect(metadata).toMatchObject({
      formatVersion: 2,
      location: 's3://bucket/ns/t_0a1b',
      lastColumnId: 3,
      lastPartitionId: 999,
      lastSequenceNumber: 0,
      currentSnapshotId: undefined,
    });
    expect(metadata.properties['write.parquet.compression-codec']).toBe('zstd');
    const file = metadataFileLocation(metadata, 7);
    expect(file).toMatch(/^s3:\/\/bucket\/ns\/t_0a1b\/metadata\/00007-[0-9a-f-]{36}\.metadata\.json$/);
    expect(metadataVersion(file)).toBe(7);
    expect(metadataVersion('s3://b/t/metadata/v12.metadata.json')).toBe(12);
    expect(JSON.parse(serializeTableMetadata(metadata))['current-snapshot-id']).toBe(-1);
  });
});

describe('schema evolution', () => {
  const base: Schema = {
    ...assignFreshIds(
      {
        type: 'struct',
        fields: [
          { id: 0, name: 'id', required: true, type: 'long' },
          { id: 0, name: 'n', required: true, type: 'int' },
          {
            id: 0,
            name: 'pos',
            required: false,
            type: { type: 'struct', fields: [{ id: 0, name: 'x', required: false, type: 'float' }] },
          },
          { id: 0, name: 'price', required: false, type: 'decimal(9, 2)' },
        ],
      },
      { value: 0 },
    ),
    schemaId: 0,
  };

  it('adds optional columns (also nested) with fresh ids, widens types and relaxes required', () => {
    const union = unionByName(
      base,
      {
        type: 'struct',
        fields: [
          { id: 0, name: 'n', required: false, type: 'long' },
          {
            id: 0,
            name: 'pos',
            required: false,
            type: {
              type: 'struct',
              fields: [
                { id: 0, name: 'x', required: false, type: 'double' },
                { id: 0, name: 'y', required: true, type: 'double' },
              ],
            },
          },
          { id: 0, name: 'price', required: false, type: 'decimal(12, 2)' },
          {
            id: 0,
            name: 'tags',
            required: true,
            type: { type: 'list', elementId: 0, elementRequired: true, element: 'string' },
          },
        ],
      },
      5,
    );
    expect(union.changes).toEqual([
      'widen n int → long',
      'make n optional',
      'widen pos.x float → double',
      'add pos.y double',
      'widen price decimal(9, 2) → decimal(12, 2)',
      'add tags list',
    ]);
    expect(union.incompatible).toEqual([]);
    expect(union.lastColumnId).toBe(8);
    const tags = union.schema.fields.find((f) => f.name === 'tags')!;
    expect(tags).toMatchObject({ id: 7, required: false, type: { elementId: 8 } });
    const metadata = setCurrentSchema(
      newTableMetadata({ location: 'file:///t', schema: base }),
      union.schema,
      union.lastColumnId,
    );
    expect(metadata.schemas.map((s) => s.schemaId)).toEqual([0, 1]);
    expect(metadata.currentSchemaId).toBe(1);
    expect(setCurrentSchema(metadata, base, 5).currentSchemaId).toBe(0);
  });

  it('reports changes Iceberg cannot make instead of applying them', () => {
    const union = unionByName(
      base,
      {
        type: 'struct',
        fields: [
          { id: 0, name: 'id', required: true, type: 'string' },
          { id: 0, name: 'pos', required: false, type: 'int' },
        ],
      },
      5,
    );
    expect(union.incompatible).toEqual([
      { path: 'id', existing: 'long', incoming: 'string' },
      { path: 'pos', existing: 'struct', incoming: 'int' },
    ]);
    expect(union.schema).toBe(base);
    expect(canPromote('decimal(10, 2)', 'decimal(12, 3)')).toBe(false);
    expect(canPromote('int', 'double')).toBe(false);
  });
});
