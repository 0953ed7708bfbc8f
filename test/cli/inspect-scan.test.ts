import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { parseFilter } from '../../shared/iceberg/filter-syntax.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { runFloe } from '../helpers/cli.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';

const ICEBIRD = path.join(ICEBERG_FIXTURES, 'icebird/hyperparam-iceberg');
const MAP = ['--map', `s3a://hyperparam-iceberg/=${ICEBIRD}/`];

describe('floe inspect / scan', () => {
  it('inspects a Java table: schema, snapshots, files with deletes', async () => {
    const result = await runFloe(['inspect', path.join(ICEBIRD, 'java/bunnies/metadata/v5.metadata.json'), ...MAP]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('9158179788527662767');
    expect(result.stdout).toMatch(/equality deletes\s+1 rows/);
    expect(result.stdout).toMatch(/position deletes\s+6 rows/);
    const json = await runFloe([
      'inspect',
      path.join(ICEBIRD, 'java/bunnies/metadata/v5.metadata.json'),
      ...MAP,
      '--json',
    ]);
    const doc = parseJson<{ currentSnapshotId: bigint; files: unknown[] }>(json.stdout);
    expect(doc.currentSnapshotId).toBe(9158179788527662767n);
    expect(doc.files).toHaveLength(4);
  });

  it('scans with deletes applied, filter, columns, limit, time travel and JSON lines', async () => {
    const v5 = path.join(ICEBIRD, 'java/bunnies/metadata/v5.metadata.json');
    const all = await runFloe(['scan', '--metadata', v5, ...MAP, '--json']);
    expect(all.code).toBe(0);
    const rows = all.stdout
      .trim()
      .split('\n')
      .map((l) => parseJson<Record<string, unknown>>(l));
    expect(rows).toHaveLength(15);
    const filtered = await runFloe([
      'scan',
      '--metadata',
      v5,
      ...MAP,
      '--json',
      '--where',
      `"Breed Name" = 'New Zealand'`,
      '--columns',
      'Breed Name,Popularity Rank',
    ]);
    expect(
      filtered.stdout
        .trim()
        .split('\n')
        .map((l) => parseJson(l)),
    ).toEqual([{ 'Breed Name': 'New Zealand', 'Popularity Rank': 0 }]);
    const travel = await runFloe([
      'scan',
      '--metadata',
      path.join(ICEBIRD, 'spark/bunnies/metadata/v5.metadata.json'),
      ...MAP,
      '--json',
      '--snapshot',
      '7505300640432048841',
      '--limit',
      '3',
    ]);
    expect(travel.stdout.trim().split('\n')).toHaveLength(3);
    const table = await runFloe([
      'scan',
      '--metadata',
      path.join(ICEBIRD, 'spark/rename_column/metadata/v3.metadata.json'),
      ...MAP,
      '--where',
      'id = 4',
    ]);
    expect(table.stdout).toContain('99999999.99');
    expect(table.stdout).toContain('(1 row)');
  });

  it('rejects bad arguments with usage and exit code 2, and names unreadable files', async () => {
    const noArgs = await runFloe(['scan']);
    expect(noArgs.code).toBe(2);
    expect(noArgs.stderr).toContain('Usage: floe scan');
    const badWhere = await runFloe(['scan', '--metadata', 'x.json', '--where', 'a >']);
    expect(badWhere.code).toBe(2);
    expect(badWhere.stderr).toMatch(/--where: expected a value/);
    const badOption = await runFloe(['inspect', '--bogus']);
    expect(badOption.code).toBe(2);
    const missing = await runFloe(['inspect', '/nonexistent/v1.metadata.json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('/nonexistent/v1.metadata.json');
    const unknown = await runFloe(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const help = await runFloe(['scan', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--where EXPR');
  });
});

describe('filter syntax', () => {
  it('parses comparisons, in, null checks, starts with, and/or/not with precedence and quoting', () => {
    expect(parseFilter("slot >= 10 and car = 'B''1' or not x is null")).toEqual({
      op: 'or',
      args: [
        {
          op: 'and',
          args: [
            { op: 'gtEq', ref: 'slot', value: 10 },
            { op: 'eq', ref: 'car', value: "B'1" },
          ],
        },
        { op: 'not', arg: { op: 'isNull', ref: 'x' } },
      ],
    });
    expect(parseFilter("\"Breed Name\" not in ('a', 'b') and n != 9007199254740993")).toEqual({
      op: 'and',
      args: [
        { op: 'notIn', ref: 'Breed Name', values: ['a', 'b'] },
        { op: 'notEq', ref: 'n', value: 9007199254740993n },
      ],
    });
    expect(parseFilter("name starts with 'Fl' and (ok = true)")).toEqual({
      op: 'and',
      args: [
        { op: 'startsWith', ref: 'name', value: 'Fl' },
        { op: 'eq', ref: 'ok', value: true },
      ],
    });
    expect(() => parseFilter("a = 'x")).toThrow(/unterminated string/);
    expect(() => parseFilter('a = 1 b')).toThrow(/unexpected 'b'/);
    expect(() => parseFilter('(a = 1')).toThrow(/expected \)/);
  });
});
