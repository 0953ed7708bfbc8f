/** `floe tag create|list|show|delete` against an embedded Nessie, and reading a tag with `floe scan|tables --ref`. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTable } from '../../shared/catalog/table-catalog.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { runFloe } from '../helpers/cli.ts';
import { goodRecord } from '../helpers/records.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let env: Record<string, string>;
let ctx: WapContext;
const batchIds: string[] = [];

async function publish(offsets: number[]): Promise<void> {
  const audited = await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', offsets.map(goodRecord)));
  batchIds.push(audited.batchId);
  await publishBatch(ctx, audited);
}

/** Every reference with its hash: what "nothing changed" compares. */
async function references(): Promise<string[]> {
  return (await stack.catalog.client.listReferences()).map((r) => `${r.type} ${r.name} ${r.hash}`).sort();
}

beforeAll(async () => {
  stack = await startTestStack();
  env = { NESSIE_URI: stack.nessieUri, FLOE_WAREHOUSE: stack.env.warehouse, FLOE_HOME: stack.dir };
  ctx = { catalog: stack.catalog, config: stack.env.pipeline, log: silentLogger };
  await publish([0, 1, 2]);
  await publish([3, 4]);
});
afterAll(() => stack?.stop());

describe('floe tag', () => {
  it('creates a tag: Iceberg refs in every production table, and the Nessie tag at the commit that added them', async () => {
    const result = await runFloe(
      ['tag', 'create', 'train-v1', '--message', 'churn model v3', '--retention', '30d', '--json'],
      { env },
    );
    expect(result.code, result.stderr).toBe(0);
    const created = parseJson<{ hash: string; tables: { table: string; snapshotId: bigint }[] }>(result.stdout);
    const tag = await stack.catalog.client.getReference('train-v1');
    expect(tag).toMatchObject({ type: 'TAG', hash: created.hash });
    expect(created.tables.map((t) => t.table)).toEqual(['production.parking_entry']);
    for (const ref of ['main', 'train-v1']) {
      const table = await loadTable(stack.catalog, ref, 'production.parking_entry');
      expect(table!.metadata.refs['train-v1']).toEqual({
        snapshotId: created.tables[0].snapshotId,
        type: 'tag',
        maxRefAgeMs: 30 * 86_400_000,
      });
    }
  });

  it('refuses bad input with exit 2 and changes nothing', async () => {
    const before = await references();
    const cases: [string[], RegExp][] = [
      [['tag', 'create', 'train-v1'], /tag 'train-v1' already exists/],
      [['tag', 'create', 'bad..name'], /not a valid tag name/],
      [['tag', 'create', '-x'], /./],
      [['tag', 'create', 'main'], /not a valid tag name/],
      [['tag', 'create', 'other', '--ref', 'no-such-branch'], /no branch 'no-such-branch'/],
      [['tag', 'create', 'other', '--ref', 'train-v1'], /is a tag, not a branch/],
      [['tag', 'show', 'nope'], /no tag 'nope'/],
      [['tag', 'delete', 'nope'], /no tag 'nope'/],
      [['tag', 'delete', 'main'], /not a valid tag name/],
      [['tag', 'frob'], /unknown action 'frob'/],
      [['tag', 'create'], /needs the tag's name/],
      [['tag', 'list', '--retention', '1d'], /--retention does not apply to tag list/],
      [['tag', 'create', 'x', '--retention', 'soon'], /--retention expects a duration/],
    ];
    for (const [args, message] of cases) {
      const result = await runFloe(args, { env });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(await references()).toEqual(before);
  });

  it('lists and shows the tag: rows, snapshot, batches and Kafka offsets per table', async () => {
    const list = await runFloe(['tag', 'list', '--json'], { env });
    expect(list.code, list.stderr).toBe(0);
    const { tags } = parseJson<{
      tags: { name: string; message: string; createdAt: string; tables: { table: string; rows: number }[] }[];
    }>(list.stdout);
    expect(tags).toHaveLength(1);
    expect(tags[0]).toMatchObject({
      name: 'train-v1',
      message: 'churn model v3',
      tables: [{ table: 'production.parking_entry', rows: 5 }],
    });
    expect(Date.parse(tags[0].createdAt)).toBeGreaterThan(Date.now() - 600_000);
    const text = await runFloe(['tag', 'list'], { env });
    expect(text.stdout).toMatch(/train-v1\s+\S+\s+[0-9a-f]{12}\s+production\.parking_entry=5/);

    const show = await runFloe(['tag', 'show', 'train-v1', '--json'], { env });
    expect(show.code, show.stderr).toBe(0);
    const detail = parseJson<{
      tables: {
        table: string;
        rows: number;
        batches: string[];
        batchesComplete: boolean;
        offsets: Record<string, unknown>;
        icebergRef: boolean;
      }[];
    }>(show.stdout);
    expect(detail.tables).toEqual([
      expect.objectContaining({
        table: 'production.parking_entry',
        rows: 5,
        icebergRef: true,
        batches: batchIds,
        batchesComplete: true,
        offsets: { 'parking-entry': { 0: [['0', '4']] } },
      }),
    ]);
    const human = await runFloe(['tag', 'show', 'train-v1'], { env });
    expect(human.stdout).toContain('offsets parking-entry: 0:0-4');
  });

  it('reads the rows at the tag with scan and tables --ref after more data is published', async () => {
    await publish([5, 6, 7]);
    const scan = await runFloe(
      ['scan', 'production.parking_entry', '--ref', 'train-v1', '--json', '--columns', '_offset'],
      { env },
    );
    expect(scan.code, scan.stderr).toBe(0);
    expect(
      scan.stdout
        .trim()
        .split('\n')
        .map((l) => Number(parseJson<{ _offset: number }>(l)._offset))
        .sort(),
    ).toEqual([0, 1, 2, 3, 4]);
    const main = await runFloe(['scan', 'production.parking_entry', '--json', '--columns', '_offset'], { env });
    expect(main.stdout.trim().split('\n')).toHaveLength(8);
    const tables = await runFloe(['tables', '--ref', 'train-v1', '--json'], { env });
    expect(tables.code, tables.stderr).toBe(0);
    expect(
      parseJson<{ tables: { name: string; rows: number }[] }>(tables.stdout).tables.find(
        (t) => t.name === 'production.parking_entry',
      )!.rows,
    ).toBe(5);
  });

  it('deletes the tag and its Iceberg refs', async () => {
    const result = await runFloe(['tag', 'delete', 'train-v1'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/deleted tag train-v1/);
    expect((await stack.catalog.client.listReferences()).filter((r) => r.type === 'TAG')).toEqual([]);
    const table = await loadTable(stack.catalog, 'main', 'production.parking_entry');
    expect(table!.metadata.refs['train-v1']).toBeUndefined();
    const again = await runFloe(['tag', 'delete', 'train-v1'], { env });
    expect(again.code).toBe(2);
  });

  it('has --help', async () => {
    const help = await runFloe(['tag', '--help'], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: floe tag');
    expect(help.stdout).toContain('create NAME');
  });
});
