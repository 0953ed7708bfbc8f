/**
 * Marking what the catalog still needs (the "mark" of orphan cleanup, like Nessie's GC and Iceberg's
 * `removeOrphanFiles`): every live Nessie reference (all branch and tag heads), every Iceberg table at that head, and
 * from its metadata file: the file itself, the files of its metadata log, `version-hint.text`, statistics files, and
 * for every retained snapshot the manifest list, the manifests, and the live data and delete files. Each metadata
 * file, manifest list and manifest is read once per run however many references share it. A file that cannot be read
 * aborts the mark: deleting on an incomplete mark could delete live data.
 *
 * Claim-check blobs are marked separately (`markClaimChecks`): they are referenced from rows, not from metadata.
 */
import type { NessieClient } from '../catalog/nessie/index.ts';
import { readMetadata } from '../catalog/table-catalog.ts';
import { gcEnabled } from '../iceberg/expire-snapshots.ts';
import { currentSchema } from '../iceberg/metadata.ts';
import { readDataFile } from '../iceberg/parquet-reader.ts';
import { isList, isMap, isStruct } from '../iceberg/schema.ts';
import { readManifestEntries, readManifestFiles } from '../iceberg/snapshot.ts';
import {
  EntryStatus,
  FileContent,
  type DataFile,
  type IcebergType,
  type ManifestFile,
  type NestedField,
  type Schema,
  type StructType,
  type TableMetadata,
} from '../iceberg/types.ts';
import type { FileIO } from '../storage/file-io.ts';
import { FILE_TYPE } from '../wap/staging-rows.ts';
import { locationIndex, type LocationIndex } from './file-locations.ts';

/** Live entries of a manifest (path, size, and the file itself for data files), cached across markers of one run. */
export type ManifestCache = Map<string, Promise<DataFile[]>>;

export interface Marker {
  io: FileIO;
  reachable: LocationIndex;
  /** Files and known bytes marked (data/delete files and manifests carry sizes; lists and metadata files do not). */
  files: number;
  bytes: number;
  /** Data files of tables with claim-check columns, for `markClaimChecks`. */
  claimCheckFiles: Map<string, { file: DataFile; schema: Schema }>;
  /** Locations of tables that disable garbage collection (`gc.enabled=false`): nothing under them is deleted. */
  gcDisabled: Set<string>;
  references: number;
  tables: number;
  cache: ManifestCache;
  seen: Set<string>;
}

export function createMarker(io: FileIO, cache: ManifestCache = new Map()): Marker {
  return {
    io,
    reachable: locationIndex(),
    files: 0,
    bytes: 0,
    claimCheckFiles: new Map(),
    gcDisabled: new Set(),
    references: 0,
    tables: 0,
    cache,
    seen: new Set(),
  };
}

function mark(marker: Marker, location: string, size?: number): boolean {
  if (!marker.reachable.add(location)) return false;
  marker.files++;
  if (size !== undefined) marker.bytes += size;
  return true;
}

function liveEntries(marker: Marker, manifest: ManifestFile, metadata: TableMetadata): Promise<DataFile[]> {
  let entries = marker.cache.get(manifest.manifestPath);
  if (!entries) {
    entries = readManifestEntries(marker.io, manifest, metadata).then((all) =>
      all.filter((e) => e.status !== EntryStatus.DELETED).map((e) => e.dataFile),
    );
    marker.cache.set(manifest.manifestPath, entries);
  }
  return entries;
}

/** Marks the files every retained snapshot of `metadata` reaches (not the metadata files themselves). */
export async function markSnapshots(marker: Marker, metadata: TableMetadata): Promise<void> {
  const uriFields = claimCheckUriFields(currentSchema(metadata));
  for (const snapshot of metadata.snapshots) {
    if (marker.seen.has(snapshot.manifestList)) continue;
    marker.seen.add(snapshot.manifestList);
    mark(marker, snapshot.manifestList);
    for (const manifest of await readManifestFiles(marker.io, snapshot)) {
      if (!mark(marker, manifest.manifestPath, manifest.manifestLength)) continue;
      for (const file of await liveEntries(marker, manifest, metadata)) {
        mark(marker, file.filePath, file.fileSizeInBytes);
        if (uriFields.length && file.content === FileContent.DATA && !marker.claimCheckFiles.has(file.filePath)) {
          marker.claimCheckFiles.set(file.filePath, { file, schema: currentSchema(metadata) });
        }
      }
    }
  }
}

/** Marks a table metadata file and everything it keeps alive. */
export async function markMetadataFile(marker: Marker, location: string): Promise<void> {
  if (marker.seen.has(location)) return;
  marker.seen.add(location);
  mark(marker, location);
  const metadata = await readMetadata(marker.io, location);
  if (!gcEnabled(metadata)) marker.gcDisabled.add(metadata.location);
  for (const entry of metadata.metadataLog) mark(marker, entry.metadataFile);
  // Hadoop-catalog tables name their current metadata here; Java counts it as valid too.
  mark(marker, `${metadata.properties['write.metadata.path'] ?? `${metadata.location}/metadata`}/version-hint.text`);
  for (const stats of [...(metadata.statistics ?? []), ...(metadata.partitionStatistics ?? [])]) {
    const path = (stats as Record<string, unknown>)['statistics-path'];
    if (typeof path === 'string')
      mark(marker, path, Number((stats as Record<string, unknown>)['file-size-in-bytes']) || undefined);
  }
  await markSnapshots(marker, metadata);
}

/**
 * Marks from every live reference. Reference heads are taken from one listing and read by commit hash (`@hash`), so
 * a branch deleted meanwhile is still read as it was: the mark is of one moment.
 */
export async function markReferences(
  marker: Marker,
  client: NessieClient,
  onTable?: (ref: string, table: string) => void,
): Promise<void> {
  const references = await client.listReferences();
  for (const ref of references) {
    marker.references++;
    const { value: entries } = await client.listEntries(`@${ref.hash}`, { content: true });
    for (const entry of entries) {
      const content = entry.content;
      if (content?.type === 'ICEBERG_TABLE') {
        marker.tables++;
        onTable?.(ref.name, entry.name.elements.join('.'));
        await markMetadataFile(marker, content.metadataLocation);
      } else if (content?.type === 'ICEBERG_VIEW') {
        mark(marker, content.metadataLocation);
      } else if (entry.type === 'ICEBERG_TABLE' || entry.type === 'ICEBERG_VIEW') {
        throw new Error(
          `reference ${ref.name}: entry ${entry.name.elements.join('.')} came without its content; cannot mark it`,
        );
      }
    }
  }
}

// ---- claim-check blobs ----

const signature = (type: StructType) =>
  type.fields
    .map((f) => `${f.name}:${typeof f.type === 'string' ? f.type : f.type.type}`)
    .sort()
    .join(',');
const FILE_SIGNATURE = signature(FILE_TYPE);
const claimChecks = new WeakMap<StructType, boolean>();

function isClaimCheck(type: IcebergType): type is StructType {
  if (!isStruct(type)) return false;
  let known = claimChecks.get(type);
  if (known === undefined) claimChecks.set(type, (known = signature(type) === FILE_SIGNATURE));
  return known;
}

/** Field ids of the `uri` of every claim-check struct in a schema (at any depth: structs, lists, maps). */
export function claimCheckUriFields(schema: Schema): number[] {
  const ids: number[] = [];
  const visit = (type: IcebergType) => {
    if (isClaimCheck(type)) ids.push(type.fields.find((f) => f.name === 'uri')!.id);
    else if (isStruct(type)) type.fields.forEach((f) => visit(f.type));
    else if (isList(type)) visit(type.element);
    else if (isMap(type)) visit(type.value);
  };
  visit(schema);
  return ids;
}

/** The schema with every field optional: a column a file lacks then reads as null instead of failing. */
function relaxed(type: IcebergType): IcebergType {
  if (isStruct(type))
    return { ...type, fields: type.fields.map((f): NestedField => ({ ...f, required: false, type: relaxed(f.type) })) };
  if (isList(type)) return { ...type, elementRequired: false, element: relaxed(type.element) };
  if (isMap(type)) return { ...type, valueRequired: false, value: relaxed(type.value) };
  return type;
}

type UriCollector = (value: unknown, into: string[]) => void;

/** Compiles, once per type, the walk from a row value to the claim-check uris inside it (undefined: none can be). */
function uriCollector(type: IcebergType): UriCollector | undefined {
  if (isClaimCheck(type)) {
    return (value, into) => {
      const uri = (value as Record<string, unknown> | null)?.uri;
      if (typeof uri === 'string') into.push(uri);
    };
  }
  if (isStruct(type)) {
    const fields = type.fields
      .map((f) => [f.name, uriCollector(f.type)] as const)
      .filter((f): f is readonly [string, UriCollector] => f[1] !== undefined);
    if (!fields.length) return undefined;
    return (value, into) => {
      if (value === null || value === undefined) return;
      for (const [name, collect] of fields) collect((value as Record<string, unknown>)[name], into);
    };
  }
  if (isList(type) || isMap(type)) {
    const element = uriCollector(isList(type) ? type.element : type.value);
    if (!element) return undefined;
    return (value, into) => {
      if (value === null || value === undefined) return;
      for (const item of isList(type) ? (value as unknown[]) : (value as Map<unknown, unknown>).values())
        element(item, into);
    };
  }
  return undefined;
}

/** Whether the file's column metrics prove the uri column holds no value (then the file need not be read). */
function provablyEmpty(file: DataFile, id: number): boolean {
  const values = file.valueCounts?.get(id);
  const nulls = file.nullValueCounts?.get(id);
  return values !== undefined && nulls !== undefined && values - nulls <= 0;
}

const readers = new WeakMap<Schema, { readSchema: Schema; collect: UriCollector }>();

function readerFor(schema: Schema): { readSchema: Schema; collect: UriCollector } {
  let reader = readers.get(schema);
  if (!reader) {
    const readSchema = relaxed(schema) as Schema;
    readers.set(schema, (reader = { readSchema, collect: uriCollector(readSchema) ?? (() => undefined) }));
  }
  return reader;
}

/**
 * Marks the blobs referenced from rows of live data files: reads only the claim-check `uri` columns, and skips files
 * whose metrics show those columns hold nothing. Cost: one footer + column-chunk read per remaining file.
 */
export async function markClaimChecks(
  marker: Marker,
  onFile?: () => void,
): Promise<{ filesRead: number; blobs: number }> {
  let filesRead = 0;
  let blobs = 0;
  for (const { file, schema } of marker.claimCheckFiles.values()) {
    const ids = claimCheckUriFields(schema).filter((id) => !provablyEmpty(file, id));
    if (!ids.length) continue;
    const { readSchema, collect } = readerFor(schema);
    const rows = await readDataFile(marker.io, {
      location: file.filePath,
      schema: readSchema,
      projection: ids,
      fileSize: file.fileSizeInBytes,
    });
    filesRead++;
    onFile?.();
    const uris: string[] = [];
    for (const row of rows) collect(row, uris);
    for (const uri of uris) if (mark(marker, uri)) blobs++;
  }
  return { filesRead, blobs };
}
