/** `floe maintain`: argument validation (usage errors), the readable summary, the JSON line, and the exit code. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseCommandArgs, usage, UsageError } from '../../cli/command.ts';
import { command } from '../../cli/commands/maintain.ts';
import { loadTable } from '../../shared/catalog/table-catalog.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { appendRows, createEventsTable, eventRows, startEnv, type TestEnv } from './helpers.ts';

async function maintain(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((text: string) => void lines.push(text));
  try {
    const args = parseCommandArgs(command, argv);
    if (args === 'help') return { code: 0, out: usage(command) };
    return { code: (await command.run(args)) ?? 0, out: lines.join('\n') };
  } finally {
    log.mockRestore();
  }
}

describe('floe maintain', () => {
  let env: TestEnv;
  const saved = { ...process.env };
  beforeAll(async () => {
    env = await startEnv('floe-maintain-cli');
    Object.assign(process.env, {
      NESSIE_URI: env.catalog.client.uri,
      FLOE_WAREHOUSE: env.catalog.warehouse,
      FLOE_CONFIG: 'knative/config/pipeline.yaml',
      FLOE_LOG_LEVEL: 'silent',
    });
    await createEventsTable(env.catalog, 'db.events');
    for (let i = 0; i < 3; i++) await appendRows(env.catalog, 'db.events', eventRows(i * 10, 10));
  });
  afterAll(async () => {
    process.env = saved;
    await env?.stop();
  });

  it('explains itself and rejects bad arguments with usage errors', async () => {
    expect((await maintain('--help')).out).toMatch(/compact \| expire \| manifests \| orphans \| branches/);
    await expect(maintain()).rejects.toThrow(UsageError);
    await expect(maintain('vacuum')).rejects.toThrow(/unknown job 'vacuum'/);
    await expect(maintain('orphans', '--table', 'db.events')).rejects.toThrow(/--table applies to compact/);
    await expect(maintain('compact', '--table', 'events')).rejects.toThrow(/namespace.table/);
    await expect(maintain('orphans', '--older-than', 'three days')).rejects.toThrow(/--older-than expects a duration/);
    await expect(maintain('manifests', '--older-than', '3d')).rejects.toThrow(/applies to orphans and expire/);
    await expect(maintain('compact', '--option', 'speed=fast')).rejects.toThrow(/KEY one of/);
    await expect(maintain('compact', '--sink', 'http://x/')).rejects.toThrow(/--sink applies to branches/);
    await expect(maintain('compact', '--frobnicate')).rejects.toThrow(UsageError);
  });

  it('compact --dry-run --json prints one JSON line and changes nothing', async () => {
    const before = (await loadTable(env.catalog, 'main', 'db.events'))!.metadataLocation;
    const { code, out } = await maintain('compact', '--dry-run', '--json', '--option', 'min-input-files=2');
    expect(code).toBe(0);
    expect(out.split('\n')).toHaveLength(1);
    const report = parseJson<Record<string, unknown>>(out);
    expect(report).toMatchObject({
      job: 'compact',
      dryRun: true,
      filesBefore: 12,
      errors: [],
      tables: [expect.objectContaining({ table: 'db.events', outcome: 'planned' })],
    });
    expect(String(report.reportLocation)).toContain('_floe/maintenance/');
    expect((await loadTable(env.catalog, 'main', 'db.events'))!.metadataLocation).toBe(before);
  });

  it('compact prints a readable summary', async () => {
    const { code, out } = await maintain('compact', '--table', 'db.events', '--option', 'min-input-files=2');
    expect(code).toBe(0);
    expect(out).toMatch(/^compact: [\d.]+ s, 1 table\(s\), 12 → 4 files/);
    expect(out).toMatch(/db\.events\s+committed/);
  });

  it('orphans --dry-run lists what it would delete, with sizes', async () => {
    const table = await loadTable(env.catalog, 'main', 'db.events');
    const [aborted] = await writeRows(env.catalog.io, table!.metadata, eventRows(500, 3));
    const { code, out } = await maintain('orphans', '--dry-run', '--older-than', '0s');
    expect(code).toBe(0);
    expect(out).toContain(`would delete`);
    expect(out).toMatch(
      new RegExp(`would delete\\s+[\\d.]+ (B|KiB)\\s+${aborted.filePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
    expect(await env.catalog.io.head(aborted.filePath)).toBeDefined();
  });

  it('exits 1 when the run reports errors', async () => {
    const { code, out } = await maintain('expire', '--table', 'db.missing');
    expect(code).toBe(1);
    expect(out).toMatch(/error: no table db\.missing on main/);
  });
});
