/** Opens the real tables under `../shared/fixtures/iceberg/` with their recorded locations mapped to the files here. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTableMetadata } from '../../shared/iceberg/metadata.ts';
import type { TableMetadata } from '../../shared/iceberg/types.ts';
import { createFileIO, fileLocation, type FileIO } from '../../shared/storage/index.ts';

export const FIXTURES = path.resolve(fileURLToPath(new URL('../../../shared/fixtures/iceberg/', import.meta.url)));

const icebird = fileLocation(path.join(FIXTURES, 'icebird/hyperparam-iceberg')) + '/';
const duckdb = fileLocation(path.join(FIXTURES, 'duckdb-iceberg')) + '/';

/** FileIO that maps every prefix the fixture writers recorded to the local copy. */
export function fixtureIO(): FileIO {
  return createFileIO({
    localFiles: true,
    maps: [
      { from: 's3a://hyperparam-iceberg/', to: icebird },
      { from: 's3://hyperparam-iceberg/', to: icebird },
      { from: 'file://data/persistent/', to: `${duckdb}data/persistent/` },
      { from: 'data/persistent/', to: `${duckdb}data/persistent/` },
    ],
  });
}

export async function fixtureTable(relative: string): Promise<{ io: FileIO; metadata: TableMetadata; location: string }> {
  const io = fixtureIO();
  const location = fileLocation(path.join(FIXTURES, relative));
  return { io, metadata: parseTableMetadata(await io.read(location), location), location };
}
