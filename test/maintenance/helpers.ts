/** Shared set-up of the maintenance tests: an embedded Nessie, a local warehouse, tables, the WAP chain, a seeded PRNG. */
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTable, newTableLocation, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { assignFreshIds } from '../../shared/iceberg/evolution.ts';
import { currentSchema, newTableMetadata, snapshotForRef } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { appendFiles, readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import {
  EntryStatus,
  type DataFile,
  type PartitionSpec,
  type Schema,
  type TableMetadata,
} from '../../shared/iceberg/types.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { loadPipelineConfig, type PipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO, type FileIO } from '../../shared/storage/index.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { parkingEntry } from '../helpers/records.ts';

export const DAY = 86_400_000;

export interface TestEnv {
  dir: string;
  catalog: Catalog;
  config: PipelineConfig;
  wap: WapContext;
  stop(): Promise<void>;
}

export interface TestStorage {
  warehouse: string;
  io: FileIO;
  close?: () => Promise<void>;
}

/** Nessie on a free port + a local warehouse; `storage` overrides where tables live (e.g. an HTTP-served dir). */
export async function startEnv(
  label: string,
  options: { storage?: (dir: string) => Promise<TestStorage> } = {},
): Promise<TestEnv> {
  const tmp = await tempDir(label);
  const nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  const storage = options.storage
    ? await options.storage(tmp.dir)
    : { warehouse: `file://${tmp.dir}/warehouse/`, io: createFileIO({ localFiles: true }) };
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: storage.io,
    warehouse: storage.warehouse,
  };
  const config = loadPipelineConfig('knative/config/pipeline.yaml');
  return {
    dir: tmp.dir,
    catalog,
    config,
    wap: { catalog, config, log: silentLogger },
    async stop() {
      await storage.close?.();
      await nessie.stop();
      await tmp.cleanup();
    },
  };
}

// ---- a plain partitioned table, built with the commit path ----

export const EVENTS_SCHEMA: Schema = {
  ...assignFreshIds(
    {
      type: 'struct',
      fields: [
        { id: 0, name: 'id', required: true, type: 'long' },
        { id: 0, name: 'ts', required: true, type: 'timestamptz' },
        { id: 0, name: 'car', required: false, type: 'string' },
        { id: 0, name: 'speed', required: false, type: 'double' },
        { id: 0, name: 'note', required: false, type: 'string' },
      ],
    },
    { value: 0 },
  ),
  schemaId: 0,
};
export const EVENTS_SPEC: PartitionSpec = {
  specId: 0,
  fields: [
    {
      sourceId: EVENTS_SCHEMA.fields.find((f) => f.name === 'ts')!.id,
      fieldId: 1000,
      name: 'ts_day',
      transform: 'day',
    },
  ],
};
const BASE_US = 1_795_000_000_000_000n;
/** A compactor's clock after every day of `eventRows` (up to 30 days) has ended: its partitions count as closed. */
export const EVENT_DAYS_CLOSED_MS = Number(BASE_US / 1000n) + 31 * 86_400_000;

/** Rows with ids `from…from+n-1`, spread over `days` daily partitions. */
export function eventRows(from: number, n: number, days = 4): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, k) => {
    const id = from + k;
    return {
      id: BigInt(id),
      ts: BASE_US + BigInt(id % days) * 86_400_000_000n + BigInt(id) * 1000n,
      car: id % 7 ? `car-${id % 13}` : null,
      speed: ((id * 37) % 101) / 3,
      note: `note ${id} ${'x'.repeat(id % 17)}`,
    };
  });
}

export async function createEventsTable(
  catalog: Catalog,
  name: string,
  properties: Record<string, string> = {},
  branch = 'main',
): Promise<void> {
  await commitOnBranch(
    catalog,
    branch,
    new Map([
      [
        name,
        async (base) =>
          base ??
          newTableMetadata({
            location: newTableLocation(catalog.warehouse, name),
            schema: EVENTS_SCHEMA,
            spec: EVENTS_SPEC,
            properties,
          }),
      ],
    ]),
    { message: `create ${name}` },
  );
}

export const OFFSETS_KEY = 'floe.kafka.offsets.events';

/** Appends rows as one snapshot (one file per partition touched); records an offsets summary like the publisher. */
export async function appendRows(
  catalog: Catalog,
  name: string,
  rows: Record<string, unknown>[],
  branch = 'main',
  now?: () => number,
): Promise<DataFile[]> {
  const table = await loadTable(catalog, branch, name);
  const files = await writeRows(catalog.io, table!.metadata, rows);
  const last = rows.length ? String(rows[rows.length - 1].id) : '0';
  await commitOnBranch(
    catalog,
    branch,
    new Map([
      [
        name,
        appendFiles({
          io: catalog.io,
          files,
          summary: { [OFFSETS_KEY]: `{"0":[[0,${last}]]}` },
          ...(now ? { now } : {}),
        }),
      ],
    ]),
    { message: `append to ${name}` },
  );
  return files;
}

export async function rowsAt(catalog: Catalog, ref: string, name: string): Promise<Record<string, unknown>[]> {
  const table = await loadTable(catalog, ref, name);
  return table ? scanRows(table.metadata, { io: catalog.io }) : [];
}

export const byId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  (a.id as bigint) < (b.id as bigint) ? -1 : (a.id as bigint) > (b.id as bigint) ? 1 : 0;

export async function liveDataFiles(io: FileIO, metadata: TableMetadata, ref = 'main'): Promise<DataFile[]> {
  const files: DataFile[] = [];
  for (const manifest of await readManifestFiles(io, snapshotForRef(metadata, ref))) {
    for (const entry of await readManifestEntries(io, manifest, metadata))
      if (entry.status !== EntryStatus.DELETED) files.push(entry.dataFile);
  }
  return files;
}

export { currentSchema };

// ---- the WAP chain ----

let nextEvent = 0;
const NOW = new Date();

/** A tagged parking-entry record (as the tagger emits it); `image` may carry a claim-check reference. */
export function entry(partition: number, offset: number, payload: Record<string, unknown> = {}): TaggedRecord {
  const time = new Date(NOW.getTime() - (offset % 3) * DAY).toISOString();
  const fields = { event_id: `evt-${process.pid}-${nextEvent++}`, ...payload };
  return parkingEntry({ partition, offset, time, payload: fields });
}

/** Write → audit → publish one batch. */
export async function publish(ctx: WapContext, records: TaggedRecord[]) {
  const audited = await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', records));
  return publishBatch(ctx, audited);
}

export const PRODUCTION = 'production.parking_entry';
export const UNTRUSTED = 'production.parking_entry_untrusted';

/** Kafka coordinates on main across production and _untrusted, sorted. */
export async function mainCoordinates(catalog: Catalog): Promise<string[]> {
  const rows = [...(await rowsAt(catalog, 'main', PRODUCTION)), ...(await rowsAt(catalog, 'main', UNTRUSTED))];
  return rows.map((r) => `${r[Column.partition]}:${r[Column.offset]}`).sort();
}

// ---- randomness for property-style tests ----

/** mulberry32: a small seeded PRNG, so a failing history can be replayed from its seed. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(items: T[]): T } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (items) => items[Math.floor(next() * items.length)] };
}
