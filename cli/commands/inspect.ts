/** `floe inspect <metadata.json>` — what a table's metadata says: schemas, specs, snapshots, refs, files. */
import { listOption, type Command } from '../command.ts';
import { currentSnapshot } from '../../shared/iceberg/metadata.ts';
import { schemaToJson } from '../../shared/iceberg/schema.ts';
import { readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import { EntryStatus, type IcebergType } from '../../shared/iceberg/types.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { locationMaps, openMetadataFile } from '../tables.ts';

const CONTENT = ['data', 'position deletes', 'equality deletes'];

function typeText(type: IcebergType): string {
  if (typeof type === 'string') return type;
  if (type.type === 'list') return `list<${typeText(type.element)}>`;
  if (type.type === 'map') return `map<${typeText(type.key)}, ${typeText(type.value)}>`;
  return `struct<${type.fields.map((f) => `${f.name}: ${typeText(f.type)}`).join(', ')}>`;
}

export const command: Command = {
  name: 'inspect',
  summary: "show a table's metadata: schemas, partition specs, snapshots, refs, data and delete files",
  positionals: [
    {
      name: 'metadata.json',
      required: true,
      description: 'a table metadata file: a local path, file://, or s3:// location',
    },
  ],
  options: {
    map: {
      type: 'string',
      multiple: true,
      placeholder: 'FROM=TO',
      description: 'read recorded locations under FROM at TO instead (e.g. s3a://bucket/=/local/dir/)',
    },
    json: { type: 'boolean', description: 'print one JSON document' },
  },
  examples: [
    'floe inspect test/fixtures/iceberg/icebird/hyperparam-iceberg/spark/bunnies/metadata/v5.metadata.json --map s3a://hyperparam-iceberg/=test/fixtures/iceberg/icebird/hyperparam-iceberg/',
  ],
  async run({ values, positionals }) {
    const { metadata, io, metadataLocation } = await openMetadataFile(
      positionals[0],
      locationMaps(listOption(values, 'map')),
    );
    const snapshot = currentSnapshot(metadata);
    const files = [];
    for (const manifest of await readManifestFiles(io, snapshot)) {
      for (const entry of await readManifestEntries(io, manifest, metadata)) {
        if (entry.status === EntryStatus.DELETED) continue;
        const f = entry.dataFile;
        files.push({
          content: CONTENT[f.content],
          path: f.filePath,
          format: f.fileFormat,
          records: f.recordCount,
          bytes: f.fileSizeInBytes,
          specId: f.specId,
          partition: f.partition,
          sequenceNumber: entry.sequenceNumber,
        });
      }
    }
    if (values.json) {
      console.log(
        stringifyJson(
          {
            metadataLocation,
            formatVersion: metadata.formatVersion,
            tableUuid: metadata.tableUuid,
            location: metadata.location,
            currentSchemaId: metadata.currentSchemaId,
            schemas: metadata.schemas.map(schemaToJson),
            partitionSpecs: metadata.partitionSpecs,
            properties: metadata.properties,
            currentSnapshotId: metadata.currentSnapshotId ?? null,
            refs: metadata.refs,
            snapshots: metadata.snapshots,
            files,
          },
          2,
        ),
      );
      return 0;
    }
    const out: string[] = [];
    out.push(
      `table       ${metadata.location}`,
      `metadata    ${metadataLocation}`,
      `format      v${metadata.formatVersion}, uuid ${metadata.tableUuid}`,
    );
    for (const schema of metadata.schemas) {
      out.push('', `schema ${schema.schemaId}${schema.schemaId === metadata.currentSchemaId ? ' (current)' : ''}`);
      for (const f of schema.fields)
        out.push(`  ${String(f.id).padStart(4)}  ${f.name}: ${typeText(f.type)}${f.required ? ' not null' : ''}`);
    }
    for (const spec of metadata.partitionSpecs) {
      out.push(
        '',
        `partition spec ${spec.specId}${spec.specId === metadata.defaultSpecId ? ' (default)' : ''}: ${spec.fields.length ? spec.fields.map((f) => `${f.name} = ${f.transform}(${f.sourceId})`).join(', ') : 'unpartitioned'}`,
      );
    }
    if (Object.keys(metadata.properties).length)
      out.push('', 'properties', ...Object.entries(metadata.properties).map(([k, v]) => `  ${k} = ${v}`));
    out.push('', `snapshots (${metadata.snapshots.length})`);
    for (const s of metadata.snapshots) {
      const mark = s.snapshotId === metadata.currentSnapshotId ? '*' : ' ';
      out.push(
        `${mark} ${String(s.snapshotId).padEnd(20)} seq ${String(s.sequenceNumber).padEnd(4)} ${new Date(s.timestampMs).toISOString()}  ${s.summary.operation.padEnd(9)} +${s.summary['added-records'] ?? 0} rows, total ${s.summary['total-records'] ?? '?'}`,
      );
    }
    out.push(
      '',
      'refs',
      ...Object.entries(metadata.refs).map(([name, ref]) => `  ${name} (${ref.type}) → ${ref.snapshotId}`),
    );
    out.push('', `files of the current snapshot (${files.length})`);
    for (const f of files)
      out.push(
        `  ${f.content.padEnd(16)} ${String(f.records).padStart(9)} rows ${String(f.bytes).padStart(10)} B  ${f.path}`,
      );
    console.log(out.join('\n'));
    return 0;
  },
};
