/** `floe tables` — the catalog's tables on a reference (or every reference): rows, files, size, snapshots. */
import { stringOption, type Command } from '../command.ts';
import { listTables, type TableSummary } from '../../shared/lakehouse/table-summaries.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { cliReadContext, openReadCatalog } from '../tables.ts';

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
  summary: "list the catalog's tables with row counts, files, size and snapshots, per reference",
  description: [
    "Reads NESSIE_URI; unset, the local stack's catalog, or when that does not answer the files under FLOE_HOME/nessie",
    "(read-only). Counts come from each table's current snapshot summary.",
  ].join('\n'),
  options: {
    ref: { type: 'string', placeholder: 'REF', default: 'main', description: 'branch or tag to list' },
    'all-refs': { type: 'boolean', description: 'list every branch and tag (WAP branches included)' },
    json: { type: 'boolean', description: 'print one JSON document' },
  },
  async run({ values }) {
    const opened = await openReadCatalog();
    const listed: (TableSummary & { ref: string })[] = [];
    let refs: string[];
    try {
      const ctx = cliReadContext(opened);
      refs = values['all-refs']
        ? (await ctx.catalog.client.listReferences()).map((r) => r.name)
        : [stringOption(values, 'ref') ?? 'main'];
      for (const ref of refs) {
        const { tables } = await listTables(ctx, ref);
        listed.push(...tables.map((t) => ({ ...t, ref })));
      }
    } finally {
      await opened.close();
    }
    if (values.json) {
      console.log(stringifyJson({ tables: listed, catalog: opened.source }));
      return 0;
    }
    if (!listed.length) {
      console.log(`no tables on ${refs.join(', ')}`);
      return 0;
    }
    const count = (n: number | null) => (n === null ? '?' : String(n));
    const rows = listed.map((t) => [
      t.ref,
      t.name,
      count(t.rows),
      count(t.files),
      human(t.bytes),
      String(t.snapshots),
      (t.lastUpdated ?? '').replace('T', ' ').slice(0, 19),
      t.error ?? '',
    ]);
    const header = ['ref', 'table', 'rows', 'files', 'size', 'snapshots', 'last updated', ''];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const right = new Set([2, 3, 4, 5]);
    const line = (cells: string[]) =>
      cells
        .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd();
    console.log([line(header), ...rows.map(line)].join('\n'));
    return 0;
  },
};
