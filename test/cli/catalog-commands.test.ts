/** `floe tables`, `floe branches` and `floe scan <table>` against a populated catalog (embedded Nessie over HTTP). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { runFloe } from '../helpers/cli.ts';
import { goodRecord, record } from '../helpers/records.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let env: Record<string, string>;
beforeAll(async () => {
  stack = await startTestStack();
  env = { NESSIE_URI: stack.nessieUri, FLOE_WAREHOUSE: stack.env.warehouse, FLOE_HOME: stack.dir };
  const ctx: WapContext = { catalog: stack.catalog, config: stack.env.pipeline, log: silentLogger };
  await publishBatch(
    ctx,
    await auditBatch(
      ctx,
      await writeBatch(ctx, 'parking-entry', [goodRecord(0), goodRecord(1), goodRecord(2), record(3)]),
    ),
  );
  // a second batch written but not yet audited: its branch stays open
  await writeBatch(ctx, 'parking-entry', [goodRecord(4)]);
});
afterAll(() => stack?.stop());

describe('catalog commands', () => {
  it('floe tables lists the tables on main with their counts', async () => {
    const result = await runFloe(['tables', '--json'], { env });
    expect(result.code, result.stderr).toBe(0);
    const { tables } = parseJson<{ tables: { name: string; rows: number }[] }>(result.stdout);
    expect(tables.map((t) => [t.name, t.rows])).toEqual([
      ['production.parking_entry', 3],
      ['production.parking_entry_untrusted', 1],
    ]);
    const text = await runFloe(['tables', '--all-refs'], { env });
    expect(text.stdout).toMatch(/wap\/parking_entry\/\S+\s+staging\.parking_entry\s+1/);
  });

  it('floe branches shows the open batch and its stage', async () => {
    const result = await runFloe(['branches', '--json'], { env });
    expect(result.code, result.stderr).toBe(0);
    const { branches } = parseJson<{ branches: { branch: string; stage: string; rows: number }[] }>(result.stdout);
    expect(branches).toHaveLength(1);
    expect(branches[0]).toMatchObject({ stage: 'written', rows: 1 });
  });

  it('floe scan reads a catalog table on a ref, with a filter', async () => {
    const result = await runFloe(
      ['scan', 'production.parking_entry_untrusted', '--json', '--columns', '_offset,_status,_reasons'],
      { env },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(parseJson(result.stdout.trim())).toEqual({
      _offset: 3,
      _status: 'malformed',
      _reasons: ['malformed: value is not valid JSON'],
    });
    const filtered = await runFloe(['scan', 'production.parking_entry', '--where', "car_id = 'B-1'", '--json'], {
      env,
    });
    expect(filtered.stdout.trim().split('\n')).toHaveLength(1);
    const missing = await runFloe(['scan', 'production.nope'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('production.nope does not exist on main');
  });
});
