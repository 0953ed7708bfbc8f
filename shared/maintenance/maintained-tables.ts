/** The tables maintenance works on (those on `main`) and how its commits identify themselves in Nessie. */
import type { Catalog } from '../catalog/table-catalog.ts';
import type { CommitMetaInput } from '../catalog/nessie/index.ts';
import type { Job } from './run-report.ts';

/** Commit property naming the maintenance job that made a commit. */
export const MAINTENANCE_PROPERTY = 'floe.maintenance';

/** Every Iceberg table on `main`, or the requested ones (each must exist there). */
export async function tablesOnMain(catalog: Catalog, only?: string[]): Promise<string[]> {
  const { value } = await catalog.client.listEntries('main', { filter: "entry.contentType == 'ICEBERG_TABLE'" });
  const names = value
    .filter((e) => e.type === 'ICEBERG_TABLE')
    .map((e) => e.name.elements.join('.'))
    .sort();
  if (!only?.length) return names;
  const missing = only.filter((t) => !names.includes(t));
  if (missing.length)
    throw new TableNotFoundError(`no table ${missing.join(', ')} on main (tables: ${names.join(', ') || 'none'})`);
  return only;
}

export class TableNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TableNotFoundError';
  }
}

export function maintenanceCommit(job: Job, table: string, summary: string): CommitMetaInput {
  return { message: `floe: ${job} ${table}: ${summary}`, properties: { [MAINTENANCE_PROPERTY]: job } };
}
