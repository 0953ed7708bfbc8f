/** `floe sql` — a SQL query over the tables of a Nessie reference, run in an embedded DuckDB. */
import { intOption, listOption, stringOption, UsageError, type Command } from '../command.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import {
  guardedView,
  remoteFiles,
  scratchDirectory,
  tablePaths,
  tablesOnRef,
  viewStatements,
  type TableFiles,
} from '../duckdb-tables.ts';
import { openReadCatalog } from '../tables.ts';

type DuckDB = typeof import('@duckdb/node-api');

async function loadDuckDB(): Promise<DuckDB> {
  try {
    return await import('@duckdb/node-api');
  } catch (err) {
    throw new Error(
      `floe sql runs queries in DuckDB, and its Node package @duckdb/node-api cannot be loaded (${(err as Error).message}); install it with \`npm install @duckdb/node-api\``,
    );
  }
}

export const command: Command = {
  name: 'sql',
  summary: 'run a SQL query (DuckDB) over the tables of a branch or tag',
  description: [
    'Every Iceberg table on the reference is a view named namespace.table (e.g. production.parking_entry) over its',
    'live data files, read by Parquet field id: renamed columns read their old files, columns added later read as NULL',
    'in older files. A table DuckDB cannot read as it is (delete files, a name mapping, identity partitions) is read',
    "with floe's scan, deletes applied, when the query names it; files in S3 are likewise copied to a temporary",
    'directory only for the tables the query names. The query runs in an in-memory DuckDB: nothing is',
    'written to the catalog or the warehouse. Timestamps show in UTC; 64-bit integers stay exact in --json.',
  ].join('\n'),
  positionals: [{ name: 'query', required: true, description: 'the SQL query (DuckDB dialect)' }],
  options: {
    ref: {
      type: 'string',
      placeholder: 'REF',
      default: 'main',
      description: 'Nessie branch, tag or name@hash whose tables to query',
    },
    json: { type: 'boolean', description: 'print the rows as one JSON array of objects' },
    csv: { type: 'boolean', description: 'print the rows as CSV with a header line' },
    limit: { type: 'string', placeholder: 'N', description: 'print at most N rows' },
    snapshot: {
      type: 'string',
      multiple: true,
      placeholder: 'TABLE=ID',
      description: "read TABLE as of snapshot ID, with that snapshot's schema (time travel)",
    },
  },
  examples: [
    'floe sql "select count(*) from production.parking_entry"',
    'floe sql "select date_trunc(\'day\', timestamp) as day, count(*) from production.parking_entry group by all order by day"',
    'floe sql "select _status, count(*) from production.parking_entry_untrusted group by all" --json',
    'floe sql "select * from staging.parking_entry" --ref wap/parking_entry/<batch> --csv --limit 100',
    'floe sql "select count(*) from production.parking_entry" --snapshot production.parking_entry=7505300640432048841',
  ],
  async run({ values, positionals }) {
    const query = positionals[0];
    if (!query?.trim())
      throw new UsageError('give the SQL query, e.g. floe sql "select count(*) from production.parking_entry"');
    if (positionals.length > 1)
      throw new UsageError(`one query expected, got ${positionals.length} arguments (quote the query)`);
    if (values.json && values.csv) throw new UsageError('give either --json or --csv, not both');
    const limit = intOption(values, 'limit', { min: 0 });
    const ref = stringOption(values, 'ref') ?? 'main';
    const snapshots = snapshotOptions(listOption(values, 'snapshot'));
    const duckdb = await loadDuckDB();

    let tables: TableFiles[];
    const opened = await openReadCatalog();
    // The catalog only names the tables and their files; the files themselves are read after it is closed.
    const io = opened.catalog.io;
    try {
      ({ tables } = await tablesOnRef(opened.catalog, ref, snapshots));
    } finally {
      await opened.close();
    }

    const scratch = scratchDirectory();
    // The query reads the files prepared here; it never downloads native extension code on its own.
    const instance = await duckdb.DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' });
    const connection = await instance.connect();
    try {
      // Timestamps with time zone render and truncate in UTC, as floe scan shows them, whatever the machine's zone.
      await connection.run("SET TimeZone = 'UTC'");
      for (const table of tables) {
        let statements: string[];
        if ((table.readThroughScan || remoteFiles(table)) && !mentions(query, table.tableName)) {
          // Reading it whole costs a full scan, and files in S3 a download each: only for a query that names the table.
          statements = guardedView(table, `${table.name} is not loaded: the query does not name it`);
        } else {
          if (table.readThroughScan)
            process.stderr.write(`${table.name}: read with floe's scan (${table.readThroughScan})\n`);
          statements = viewStatements(table, await tablePaths(table, io, scratch.get));
        }
        for (const statement of statements) await connection.run(statement);
      }
      let reader;
      try {
        reader =
          limit === undefined
            ? await connection.runAndReadAll(query)
            : await connection.runAndReadUntil(query, limit + 1);
      } catch (err) {
        const message = (err as Error).message;
        const hint = /does not exist|not found/i.test(message)
          ? `\n(tables on ${ref}: ${tables.length ? tables.map((t) => t.name).join(', ') : 'none'})`
          : '';
        throw new Error(`${message}${hint}`);
      }
      const names = reader.columnNames();
      const types = reader.columnTypes();
      const all = reader.getRowsJson();
      const rows = limit === undefined ? all : all.slice(0, limit);
      const more = limit !== undefined && all.length > limit;
      if (values.json) {
        const objects = rows.map((row) => Object.fromEntries(names.map((name, i) => [name, exact(row[i], types[i])])));
        console.log(stringifyJson(objects));
      } else if (values.csv) {
        const lines = [names.map(csvCell).join(',')];
        for (const row of rows)
          lines.push(
            row
              .map((value) =>
                csvCell(value === null ? null : typeof value === 'object' ? stringifyJson(value) : String(value)),
              )
              .join(','),
          );
        console.log(lines.join('\n'));
      } else {
        printTable(
          names,
          types.map((t) => NUMERIC.test(t.toString())),
          rows,
        );
        console.log(
          `(${rows.length} row${rows.length === 1 ? '' : 's'}${more ? `; more not shown, --limit ${limit}` : ''})`,
        );
      }
      return 0;
    } finally {
      connection.closeSync();
      instance.closeSync();
      await scratch.cleanup();
    }
  },
};

/** `--snapshot namespace.table=ID` values, by table. */
function snapshotOptions(values: string[]): Map<string, bigint> {
  const snapshots = new Map<string, bigint>();
  for (const value of values) {
    const match = /^([^=]+\.[^=]+)=(-?\d+)$/.exec(value.trim());
    if (!match)
      throw new UsageError(
        `--snapshot expects namespace.table=snapshot-id, e.g. production.parking_entry=7505300640432048841; got '${value}'`,
      );
    if (snapshots.has(match[1])) throw new UsageError(`--snapshot names ${match[1]} twice`);
    snapshots.set(match[1], BigInt(match[2]));
  }
  return snapshots;
}

function mentions(query: string, name: string): boolean {
  return query.toLowerCase().includes(name.toLowerCase());
}

type Json = ReturnType<import('@duckdb/node-api').DuckDBResultReader['getRowsJson']>[number][number];
type DuckDBType = ReturnType<import('@duckdb/node-api').DuckDBResultReader['columnTypes']>[number];

/** Ids of the integer types DuckDB's JSON conversion renders as strings (they do not fit a JS number). */
const WIDE_INTEGERS = new Set(['BIGINT', 'UBIGINT', 'HUGEINT', 'UHUGEINT']);

/**
 * DuckDB's JSON form, with 64-bit and wider integers (which it gives as strings) turned back into numbers: bigint
 * values that stringifyJson writes as exact JSON numbers.
 */
function exact(value: Json, type: DuckDBType): unknown {
  if (value === null) return null;
  const kind = type.toString();
  if (WIDE_INTEGERS.has(kind) && typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if ('entryTypes' in type && 'entryNames' in type && typeof value === 'object' && !Array.isArray(value)) {
    const record = value as Record<string, Json>;
    return Object.fromEntries(
      type.entryNames.map((name, i) => [name, exact(record[name] ?? null, type.entryTypes[i])]),
    );
  }
  if ('valueType' in type && Array.isArray(value) && !('keyType' in type))
    return value.map((v) => exact(v, type.valueType));
  return value;
}

function csvCell(text: string | null): string {
  if (text === null) return '';
  return /[",\r\n]/.test(text) || text === '' ? `"${text.replace(/"/g, '""')}"` : text;
}

function cell(value: Json): string {
  if (value === null) return '∅';
  const text = typeof value === 'object' ? stringifyJson(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

const NUMERIC = /^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|DECIMAL\b.*)$/;

function printTable(names: string[], numeric: boolean[], rows: Json[][]): void {
  const cells = rows.map((row) => row.map(cell));
  const widths = names.map((name, i) => Math.max(name.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  console.log(line(names));
  console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const row of cells) console.log(line(row));
}
