/**
 * A file-catalog warehouse in a temporary directory whose recorded locations are http:// URLs of that directory, served
 * on a free loopback port: icebird, which reads only over HTTP, opens the tables floe writes there, while floe's FileIO
 * maps the URLs back to the files and DuckDB reads them by `localPath`.
 */
import path from 'node:path';
import { fileCatalog } from '../../shared/catalog/file-catalog.ts';
import { commitTable, type TableState } from '../../shared/iceberg/commit.ts';
import { newTableMetadata } from '../../shared/iceberg/metadata.ts';
import { appendFiles } from '../../shared/iceberg/snapshot.ts';
import type { DataFile, PartitionSpec, Schema } from '../../shared/iceberg/types.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { createFileIO, fileLocation, type FileIO } from '../../shared/storage/index.ts';
import { serveDirectory } from './http-files.ts';
import { tempDir } from './tmp.ts';

export interface HttpWarehouse {
  dir: string;
  /** The server's base URL (no trailing slash). */
  url: string;
  /** `<url>/warehouse/` */
  warehouse: string;
  io: FileIO;
  /** The local file of a location under `url`. */
  localPath(location: string): string;
  /** Stops the server and removes the directory. */
  close(): Promise<void>;
}

export async function startHttpWarehouse(label: string): Promise<HttpWarehouse> {
  const tmp = await tempDir(label);
  const http = await serveDirectory(tmp.dir);
  return {
    dir: tmp.dir,
    url: http.url,
    warehouse: `${http.url}/warehouse/`,
    io: createFileIO({ localFiles: true, maps: [{ from: `${http.url}/`, to: `${fileLocation(tmp.dir)}/` }] }),
    localPath: (location) => path.join(tmp.dir, location.slice(http.url.length)),
    async close() {
      await http.close();
      await tmp.cleanup();
    },
  };
}

type Warehouse = Pick<HttpWarehouse, 'io' | 'warehouse'>;

/** Table `name` in the warehouse's file catalog, created with these properties unless it exists. */
export function createTable(
  { io, warehouse }: Warehouse,
  name: string,
  schema: Schema,
  spec: PartitionSpec,
  properties: Record<string, string> = {},
): Promise<TableState> {
  const catalog = fileCatalog(io, warehouse);
  return commitTable(
    catalog.port(),
    name,
    async (base) => base ?? newTableMetadata({ location: catalog.tableLocation(name), schema, spec, properties }),
    { io },
  );
}

/** Writes `rows` under `state`'s metadata and appends them in one snapshot. */
export async function appendRows(
  { io, warehouse }: Warehouse,
  name: string,
  state: TableState,
  rows: Record<string, unknown>[],
  summary?: Record<string, string>,
): Promise<{ state: TableState; files: DataFile[] }> {
  const files = await writeRows(io, state.metadata, rows);
  const next = await commitTable(fileCatalog(io, warehouse).port(), name, appendFiles({ io, files, summary }), { io });
  return { state: next, files };
}

/** The file name of a table state's metadata, as icebird's `metadataFileName` takes it. */
export function metadataFileName(state: TableState): string {
  return state.metadataLocation.slice(state.metadataLocation.lastIndexOf('/') + 1);
}
