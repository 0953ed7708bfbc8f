/** `floe scan` — rows of a table, deletes applied: from the catalog by name (`--ref`) or from a metadata file. */
import { intOption, listOption, stringOption, UsageError, type Command } from '../command.ts';
import { displayRow } from '../../shared/iceberg/display.ts';
import { parseFilter } from '../../shared/iceberg/filter-syntax.ts';
import { planScan, readTasks } from '../../shared/iceberg/scan.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { locationMaps, openCatalogTable, openMetadataFile, openReadCatalog, type OpenedTable } from '../tables.ts';

export const command: Command = {
  name: 'scan',
  summary: 'print the rows of a table (deletes applied), from the catalog or a metadata file',
  positionals: [
    {
      name: 'table',
      description:
        'namespace.table in the catalog (NESSIE_URI; default the local stack, or FLOE_HOME/nessie when it is not running)',
    },
  ],
  options: {
    metadata: {
      type: 'string',
      placeholder: 'FILE',
      description: 'read this metadata.json instead of a catalog table',
    },
    ref: {
      type: 'string',
      placeholder: 'REF',
      default: 'main',
      description: 'Nessie branch, tag or name@hash to read',
    },
    snapshot: { type: 'string', placeholder: 'ID', description: 'time travel to this snapshot id' },
    columns: { type: 'string', placeholder: 'a,b', description: 'only these columns' },
    where: { type: 'string', placeholder: 'EXPR', description: 'row filter, e.g. "slot >= 10 and car_id = \'B-1\'"' },
    limit: { type: 'string', placeholder: 'N', description: 'at most N rows' },
    map: {
      type: 'string',
      multiple: true,
      placeholder: 'FROM=TO',
      description: 'read recorded locations under FROM at TO (with --metadata)',
    },
    json: { type: 'boolean', description: 'one JSON object per line' },
    raw: {
      type: 'string',
      placeholder: 'text|base64',
      default: 'text',
      description: "how to show _raw (a record's bytes): UTF-8 text when valid, else base64:…; or always base64",
    },
  },
  examples: [
    'floe scan production.parking_entry --limit 10',
    'floe scan production.parking_entry_untrusted --where "_status = \'malformed\'" --json',
    'floe scan production.parking_entry_untrusted --columns _offset,_reasons,_raw --raw base64',
    'floe scan --metadata path/to/v5.metadata.json --snapshot 7505300640432048841 --map s3a://bucket/=./local/',
  ],
  async run({ values, positionals }) {
    const metadataFile = stringOption(values, 'metadata');
    if (!metadataFile && !positionals[0]) throw new UsageError('give a table name or --metadata FILE');
    if (metadataFile && positionals[0]) throw new UsageError('give either a table name or --metadata, not both');
    const snapshotText = stringOption(values, 'snapshot');
    if (snapshotText !== undefined && !/^-?\d+$/.test(snapshotText))
      throw new UsageError(`--snapshot expects a snapshot id, got '${snapshotText}'`);
    const limit = intOption(values, 'limit', { min: 0 });
    const where = stringOption(values, 'where');
    let filter;
    try {
      filter = where ? parseFilter(where) : undefined;
    } catch (err) {
      throw new UsageError(`--where: ${(err as Error).message}`);
    }
    const columns = stringOption(values, 'columns')
      ?.split(',')
      .map((c) => c.trim())
      .filter(Boolean);
    const rawMode = stringOption(values, 'raw') ?? 'text';
    if (rawMode !== 'text' && rawMode !== 'base64')
      throw new UsageError(`--raw expects text or base64, got '${rawMode}'`);
    let table: OpenedTable;
    if (metadataFile) table = await openMetadataFile(metadataFile, locationMaps(listOption(values, 'map')));
    else {
      // The catalog only resolves the table's metadata; the rows are read from storage after it is closed.
      const opened = await openReadCatalog();
      try {
        table = await openCatalogTable(opened, positionals[0], stringOption(values, 'ref') ?? 'main');
      } finally {
        await opened.close();
      }
    }
    const plan = await planScan(table.metadata, {
      io: table.io,
      filter,
      ...(snapshotText ? { snapshotId: BigInt(snapshotText) } : {}),
    });
    const rows: Record<string, unknown>[] = [];
    let count = 0;
    outer: for await (const batch of readTasks(plan, table.metadata, {
      io: table.io,
      ...(columns ? { columns } : {}),
    })) {
      for (const row of batch) {
        if (limit !== undefined && count >= limit) break outer;
        count++;
        const shown = displayRow(plan.schema, row);
        const raw = row[Column.raw];
        if (raw instanceof Uint8Array) shown[Column.raw] = showRaw(raw, rawMode);
        if (values.json) console.log(stringifyJson(shown));
        else rows.push(shown);
      }
    }
    if (!values.json) printTable(rows, columns ?? plan.schema.fields.map((f) => f.name));
    return 0;
  },
};

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A record's bytes as people read them: the text it is when it is UTF-8, base64 (marked) when it is not. */
function showRaw(bytes: Uint8Array, mode: 'text' | 'base64'): string {
  if (mode === 'text') {
    try {
      return utf8.decode(bytes);
    } catch {
      // not text: shown as base64 below, marked so that it cannot pass for the record's text
    }
  }
  const base64 = Buffer.from(bytes).toString('base64');
  return mode === 'text' ? `base64:${base64}` : base64;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '∅';
  const text = typeof value === 'object' ? stringifyJson(value) : String(value);
  return text.length > 48 ? `${text.slice(0, 47)}…` : text;
}

function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '─'.repeat(w))));
  for (const row of rows) console.log(line(columns.map((c) => cell(row[c]))));
  console.log(`(${rows.length} row${rows.length === 1 ? '' : 's'})`);
}
