/** Opening a table for the CLI: by metadata file (`--metadata`, with `--map`) or by name in the catalog (`--ref`). */
import path from 'node:path';
import { loadTable } from '../shared/catalog/table-catalog.ts';
import { parseTableMetadata } from '../shared/iceberg/metadata.ts';
import type { TableMetadata } from '../shared/iceberg/types.ts';
import {
  createFileIO,
  fileLocation,
  parseLocationMap,
  type FileIO,
  type LocationMap,
} from '../shared/storage/index.ts';
import { UsageError } from './command.ts';
import { openCommandCatalog, type CommandCatalog } from './catalog.ts';
import { createMemo } from '../shared/lakehouse/memo.ts';
import type { ReadContext } from '../shared/lakehouse/read-context.ts';

export interface OpenedTable {
  metadata: TableMetadata;
  metadataLocation: string;
  io: FileIO;
}

export function locationMaps(values: string[]): LocationMap[] {
  return values.map((text) => {
    try {
      return parseLocationMap(text);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
}

/** FileIO reaching local paths, `file:` and (with S3_* / AWS_* set) `s3://` locations, through the given maps. */
export function cliIO(maps: LocationMap[]): FileIO {
  const s3 =
    process.env.S3_ENDPOINT || process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE
      ? {
          s3: {
            endpoint: process.env.S3_ENDPOINT,
            region: process.env.S3_REGION,
            forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' || Boolean(process.env.S3_ENDPOINT),
            accessKeyId: process.env.AWS_ACCESS_KEY_ID,
            secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
          },
        }
      : { s3: { region: process.env.AWS_REGION ?? 'us-east-1' } };
  return createFileIO({ localFiles: true, maps, ...s3 });
}

export async function openMetadataFile(file: string, maps: LocationMap[]): Promise<OpenedTable> {
  const io = cliIO(maps);
  const location = /^[a-z][a-z0-9+.-]*:/i.test(file) ? file : fileLocation(path.resolve(file));
  return { metadata: parseTableMetadata(await io.read(location), location), metadataLocation: location, io };
}

/** The catalog for a command that only reads, with storage that reaches local paths and `s3://` alike. */
export function openReadCatalog(): Promise<CommandCatalog> {
  return openCommandCatalog({ access: 'read', io: cliIO([]), client: { retries: 1, timeoutMs: 15_000 } });
}

export async function openCatalogTable(opened: CommandCatalog, name: string, ref: string): Promise<OpenedTable> {
  if (!/^[^.]+\..+$/.test(name))
    throw new UsageError(`table '${name}' must be namespace.table, e.g. production.parking_entry`);
  const { catalog } = opened;
  const table = await loadTable(catalog, ref, name);
  if (!table)
    throw new Error(
      `table ${name} does not exist on ${ref} (catalog ${opened.source.kind === 'uri' ? opened.source.uri : opened.source.directory})`,
    );
  return { metadata: table.metadata, metadataLocation: table.metadataLocation, io: catalog.io };
}

/** The dashboard's views (dashboard) serve the CLI listings too: one way of computing them. */
export function cliReadContext(opened: CommandCatalog): ReadContext {
  const { catalog, env } = opened;
  return {
    catalog,
    io: catalog.io,
    warehouse: env.warehouse,
    functions: {},
    config: env.pipeline,
    now: () => new Date(),
    memo: createMemo(),
  };
}
