/**
 * A catalog kept in the warehouse itself, for tests, demos and single-writer setups without Nessie. A table lives at
 * `<warehouse>/<namespace>/<table>`; its current metadata is named by the newest commit marker
 * `metadata/commits/<N>.json`, and a commit is the atomic create-if-absent of marker N+1 (`If-None-Match: *` on S3,
 * `link()` locally) — two writers racing for the same N cannot both win. One table per commit: no multi-table
 * atomicity here (that is what Nessie is for).
 */
import { collect, PreconditionFailedError } from '../storage/object-store.ts';
import type { FileIO } from '../storage/file-io.ts';
import { CommitConflictError, ValidationError, type CatalogPort, type TableState } from '../iceberg/commit.ts';
import { parseJson, stringifyJson } from '../util/lossless-json.ts';
import { readMetadata, tableKey } from './table-catalog.ts';

export interface FileCatalog {
  /** Where a table lives. */
  tableLocation(name: string): string;
  load(name: string): Promise<TableState | undefined>;
  port(): CatalogPort;
}

const MARKER_DIGITS = 10;

export function fileCatalog(io: FileIO, warehouse: string): FileCatalog {
  const root = warehouse.endsWith('/') ? warehouse : `${warehouse}/`;
  const tableLocation = (name: string) => `${root}${tableKey(name).elements.join('/')}`;
  const markerPrefix = (name: string) => `${tableLocation(name)}/metadata/commits/`;

  async function current(name: string): Promise<{ version: number; state?: TableState }> {
    const markers = (await collect(io.list(markerPrefix(name))))
      .map((o) => o.location)
      .filter((l) => l.endsWith('.json'))
      .sort();
    const latest = markers[markers.length - 1];
    if (!latest) return { version: 0 };
    const version = Number(latest.slice(latest.lastIndexOf('/') + 1, -'.json'.length));
    const { 'metadata-location': metadataLocation } = parseJson<{ 'metadata-location': string }>(await io.read(latest));
    return { version, state: { metadataLocation, metadata: await readMetadata(io, metadataLocation) } };
  }

  return {
    tableLocation,
    async load(name) {
      return (await current(name)).state;
    },
    port() {
      return {
        async load(tables) {
          const versions = new Map<string, number>();
          const states = new Map<string, TableState | undefined>();
          for (const table of tables) {
            const { version, state } = await current(table);
            versions.set(table, version);
            states.set(table, state);
          }
          return { token: versions, states };
        },
        async swap(token, swaps) {
          if (swaps.length !== 1)
            throw new ValidationError(
              'the file catalog commits one table at a time; use Nessie for multi-table commits',
            );
          const [{ table, next }] = swaps;
          const version = (token as Map<string, number>).get(table)! + 1;
          const marker = `${markerPrefix(table)}${String(version).padStart(MARKER_DIGITS, '0')}.json`;
          try {
            await io.write(marker, stringifyJson({ 'metadata-location': next.metadataLocation }), { ifNoneMatch: '*' });
          } catch (err) {
            if (err instanceof PreconditionFailedError)
              throw new CommitConflictError(`table ${table} moved past version ${version - 1}`);
            throw err;
          }
          return { version };
        },
      };
    },
  };
}
