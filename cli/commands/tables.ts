/** `floe tables` — the catalog's tables on a reference (or every reference): rows, files, size, snapshots. */
import { stringOption, type Command } from '../command.ts';
import { keyName, readMetadata } from '../../shared/catalog/tables.ts';
import { currentSnapshot } from '../../shared/iceberg/metadata.ts';
import { stringifyJson } from '../../shared/util/json.ts';
import { cliCatalog } from '../tables.ts';

export interface TableSummary {
  ref: string;
  table: string;
  rows: number | null;
  dataFiles: number | null;
  bytes: number | null;
  snapshots: number;
  lastUpdated: string;
  metadataLocation: string;
}

const total = (summary: Record<string, string> | undefined, key: string) => (summary?.[key] === undefined ? null : Number(summary[key]));

export async function tableSummaries(refs: string[]): Promise<TableSummary[]> {
  const catalog = cliCatalog();
  const out: TableSummary[] = [];
  for (const ref of refs) {
    const entries = await catalog.client.listEntries(ref, { content: true });
    for (const entry of entries.value) {
      if (entry.content?.type !== 'ICEBERG_TABLE') continue;
      const metadata = await readMetadata(catalog.io, entry.content.metadataLocation);
      const summary = currentSnapshot(metadata)?.summary;
      out.push({
        ref, table: keyName(entry.name), rows: total(summary, 'total-records') ?? (summary ? null : 0),
        dataFiles: total(summary, 'total-data-files') ?? (summary ? null : 0), bytes: total(summary, 'total-files-size') ?? (summary ? null : 0),
        snapshots: metadata.snapshots.length, lastUpdated: new Date(metadata.lastUpdatedMs).toISOString(), metadataLocation: entry.content.metadataLocation,
      });
    }
  }
  return out;
}

function human(bytes: number | null): string {
  if (bytes === null) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

export const command: Command = {
  name: 'tables',
  summary: 'list the catalog\'s tables with row counts, files, size and snapshots, per reference',
  description: 'Reads NESSIE_URI (default: the local stack). Counts come from each table\'s current snapshot summary.',
  options: {
    ref: { type: 'string', placeholder: 'REF', default: 'main', description: 'branch or tag to list' },
    'all-refs': { type: 'boolean', description: 'list every branch and tag (WAP branches included)' },
    json: { type: 'boolean', description: 'print one JSON document' },
  },
  async run({ values }) {
    const refs = values['all-refs']
      ? (await cliCatalog().client.listReferences()).map((r) => r.name)
      : [stringOption(values, 'ref') ?? 'main'];
    const tables = await tableSummaries(refs);
    if (values.json) {
      console.log(stringifyJson({ tables }));
      return 0;
    }
    if (!tables.length) {
      console.log(`no tables on ${refs.join(', ')}`);
      return 0;
    }
    const rows = tables.map((t) => [t.ref, t.table, t.rows === null ? '?' : String(t.rows), t.dataFiles === null ? '?' : String(t.dataFiles), human(t.bytes), String(t.snapshots), t.lastUpdated.replace('T', ' ').slice(0, 19)]);
    const header = ['ref', 'table', 'rows', 'files', 'size', 'snapshots', 'last updated'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const right = new Set([2, 3, 4, 5]);
    const line = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
    console.log([line(header), ...rows.map(line)].join('\n'));
    return 0;
  },
};
