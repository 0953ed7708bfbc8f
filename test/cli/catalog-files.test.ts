/**
 * The catalog commands after the local stack has stopped: nothing answers at the local Nessie URI, so `floe tables`,
 * `scan`, `branches` and `maintain --dry-run` open the embedded catalog's files under FLOE_HOME/nessie read-only
 * (changing no byte there), `maintain` without --dry-run opens them read-write and commits, an explicit NESSIE_URI is
 * never replaced by the files, and a local catalog that answers is used instead of its files.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNessieServer } from '../../local/nessie/index.ts';
import { freePort } from '../../local/stack/processes.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTable, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { loadEnv } from '../../shared/runtime/env.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { runFloe } from '../helpers/cli.ts';
import { goodRecord, record } from '../helpers/records.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';

const PIPELINE = path.resolve(fileURLToPath(new URL('../../knative/config/pipeline.yaml', import.meta.url)));

let home: { dir: string; cleanup: () => Promise<void> };
let nessieDir: string;
/** Where the commands look for the local stack: a free port nothing listens on (never a real stack on 19120). */
let localPort: number;
let env: NodeJS.ProcessEnv;
let metadataFile: string;

interface Source {
  kind: string;
  readOnly?: boolean;
  directory?: string;
  uri?: string;
  from?: string;
  notAnswering?: string;
}
interface TableRow {
  name: string;
  rows: number;
  files: number;
}

/** Every file under FLOE_HOME/nessie and its sha256. */
async function fingerprint(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(nessieDir)).sort())
    files[name] = createHash('sha256')
      .update(await readFile(path.join(nessieDir, name)))
      .digest('hex');
  return files;
}

beforeAll(async () => {
  home = await tempDir('floe-home');
  nessieDir = path.join(home.dir, 'nessie');
  localPort = await freePort();
  // What the commands would see after `floe start` ended: FLOE_HOME only, no NESSIE_URI, the stack's defaults.
  env = {
    FLOE_HOME: home.dir,
    FLOE_LOCAL_NESSIE_PORT: String(localPort),
    NESSIE_URI: undefined,
    FLOE_WAREHOUSE: undefined,
    FLOE_CONFIG: undefined,
    FLOE_LOG_LEVEL: 'warn',
  };

  const nessie = await startNessieServer({ dataDir: nessieDir, port: 0, logger: silentLogger });
  try {
    const floeEnv = loadEnv({
      FLOE_WAREHOUSE: path.join(home.dir, 'warehouse'),
      NESSIE_URI: nessie.uri,
      FLOE_CONFIG: PIPELINE,
    });
    const catalog: Catalog = {
      client: createNessieClient({ uri: nessie.uri }),
      io: createFileIO({ localFiles: true }),
      warehouse: floeEnv.warehouse,
    };
    const ctx: WapContext = { catalog, config: floeEnv.pipeline, log: silentLogger };
    // Three published batches (three small data files to compact), one malformed record, one batch left unaudited.
    await publishBatch(
      ctx,
      await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', [goodRecord(0), goodRecord(1), record(2)])),
    );
    await publishBatch(
      ctx,
      await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', [goodRecord(3), goodRecord(4)])),
    );
    await publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', [goodRecord(5)])));
    await writeBatch(ctx, 'parking-entry', [goodRecord(6)]);
    metadataFile = fileURLToPath((await loadTable(catalog, 'main', 'production.parking_entry'))!.metadataLocation);
  } finally {
    await nessie.stop();
  }
}, 60_000);

afterAll(() => home?.cleanup());

describe('catalog commands when the local stack is not running', () => {
  it('tables, scan, branches, inspect and maintain --dry-run read FLOE_HOME/nessie directly and change no byte of it', async () => {
    const before = await fingerprint();
    expect(Object.keys(before)).not.toContain('lock');

    const tables = await runFloe(['tables', '--json'], { env });
    expect(tables.code, tables.stderr).toBe(0);
    expect(tables.stderr).toContain(
      `catalog: ${nessieDir} opened directly (read-only; no catalog answers at http://127.0.0.1:${localPort}/api)`,
    );
    const listed = parseJson<{ tables: TableRow[]; catalog: Source }>(tables.stdout);
    expect(listed.tables.map((t) => [t.name, t.rows, t.files])).toEqual([
      ['production.parking_entry', 5, 3],
      ['production.parking_entry_untrusted', 1, 1],
    ]);
    expect(listed.catalog).toEqual({
      kind: 'directory',
      directory: nessieDir,
      readOnly: true,
      notAnswering: `http://127.0.0.1:${localPort}/api`,
    });
    expect(await fingerprint()).toEqual(before);

    const scan = await runFloe(['scan', 'production.parking_entry', '--json', '--columns', '_offset,car_id'], { env });
    expect(scan.code, scan.stderr).toBe(0);
    expect(
      scan.stdout
        .trim()
        .split('\n')
        .map((line) => parseJson<{ _offset: number }>(line)._offset)
        .sort(),
    ).toEqual([0, 1, 3, 4, 5]);
    expect(scan.stderr).toContain('opened directly (read-only');
    expect(await fingerprint()).toEqual(before);

    const branches = await runFloe(['branches', '--json'], { env });
    expect(branches.code, branches.stderr).toBe(0);
    const view = parseJson<{ branches: { stage: string; rows: number }[]; catalog: Source }>(branches.stdout);
    expect(view.branches).toEqual([expect.objectContaining({ stage: 'written', rows: 1 })]);
    expect(view.catalog).toMatchObject({ kind: 'directory', readOnly: true });
    expect(await fingerprint()).toEqual(before);

    // inspect reads a metadata file and needs no catalog at all
    const inspect = await runFloe(['inspect', metadataFile, '--json'], { env });
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(parseJson<{ files: unknown[] }>(inspect.stdout).files).toHaveLength(3);

    const dryRun = await runFloe(['maintain', 'compact', '--dry-run', '--json', '--option', 'min-input-files=2'], {
      env,
    });
    expect(dryRun.code, dryRun.stderr).toBe(0);
    const planned = parseJson<{
      job: string;
      dryRun: boolean;
      tables: { table: string; outcome: string }[];
      catalog: Source;
    }>(dryRun.stdout);
    expect(planned).toMatchObject({ job: 'compact', dryRun: true, catalog: { kind: 'directory', readOnly: true } });
    expect(planned.tables).toContainEqual(
      expect.objectContaining({ table: 'production.parking_entry', outcome: 'planned' }),
    );
    expect(await fingerprint()).toEqual(before);
  });

  it('maintain without --dry-run opens the files read-write, commits, and releases the directory', async () => {
    const before = await fingerprint();
    const result = await runFloe(
      ['maintain', 'compact', '--table', 'production.parking_entry', '--option', 'min-input-files=2', '--json'],
      { env },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      `catalog: ${nessieDir} opened directly (read-write, locked while this command runs;`,
    );
    const report = parseJson<{
      tables: { table: string; outcome: string; filesBefore: number; filesAfter: number }[];
      catalog: Source;
    }>(result.stdout);
    expect(report.tables).toEqual([
      expect.objectContaining({
        table: 'production.parking_entry',
        outcome: 'committed',
        filesBefore: 3,
        filesAfter: 1,
      }),
    ]);
    expect(report.catalog).toMatchObject({ kind: 'directory', readOnly: false });
    const after = await fingerprint();
    expect(after).not.toEqual(before);
    expect(Object.keys(after)).not.toContain('lock');

    const tables = await runFloe(['tables', '--json'], { env });
    expect(
      parseJson<{ tables: TableRow[] }>(tables.stdout).tables.find((t) => t.name === 'production.parking_entry'),
    ).toMatchObject({ rows: 5, files: 1 });
  });

  it('reads but does not write next to a live process that holds the directory', async () => {
    // The lock names this test process: alive, and not the command's own process.
    await writeFile(path.join(nessieDir, 'lock'), `${process.pid}\n`);
    try {
      const before = await fingerprint();
      const write = await runFloe(['maintain', 'compact', '--option', 'min-input-files=2'], { env });
      expect(write.code).toBe(1);
      expect(write.stderr).toContain(
        `but process ${process.pid} holds ${nessieDir}: this command writes to the catalog`,
      );
      const read = await runFloe(['tables', '--json'], { env });
      expect(read.code, read.stderr).toBe(0);
      expect(read.stderr).toContain(`process ${process.pid} holds it`);
      expect(parseJson<{ catalog: Source }>(read.stdout).catalog).toMatchObject({
        kind: 'directory',
        readOnly: true,
        heldByPid: process.pid,
      });
      expect(await fingerprint()).toEqual(before);
    } finally {
      await rm(path.join(nessieDir, 'lock'), { force: true });
    }
  });

  it('uses the local catalog when it answers, and never replaces an explicit NESSIE_URI by the files', async () => {
    const nessie = await startNessieServer({ dataDir: nessieDir, port: localPort, logger: silentLogger });
    try {
      const live = await runFloe(['tables', '--json'], { env });
      expect(live.code, live.stderr).toBe(0);
      expect(live.stderr).toContain(`catalog: ${nessie.uri} (the local stack)`);
      const listed = parseJson<{ tables: TableRow[]; catalog: Source }>(live.stdout);
      expect(listed.catalog).toEqual({ kind: 'uri', uri: nessie.uri, from: 'local stack' });
      expect(listed.tables.map((t) => t.name)).toEqual([
        'production.parking_entry',
        'production.parking_entry_untrusted',
      ]);
    } finally {
      await nessie.stop();
    }

    const unreachable = `http://127.0.0.1:${await freePort()}/api`;
    const explicit = await runFloe(['tables', '--json'], { env: { ...env, NESSIE_URI: unreachable } });
    expect(explicit.code).toBe(1);
    expect(explicit.stdout).toBe('');
    expect(explicit.stderr).toContain(`catalog: ${unreachable} (NESSIE_URI)`);
    expect(explicit.stderr).toContain('ECONNREFUSED');
    expect(explicit.stderr).toContain(
      'nothing answers there: start the local stack with `npm start`, or set NESSIE_URI',
    );
    expect(explicit.stderr).not.toContain('opened directly');
  });

  it('says so when nothing answers and FLOE_HOME holds no catalog', async () => {
    const empty = await tempDir('floe-home-empty');
    try {
      const result = await runFloe(['branches'], { env: { ...env, FLOE_HOME: empty.dir } });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `no catalog answers at http://127.0.0.1:${localPort}/api and ${path.join(empty.dir, 'nessie')} holds none`,
      );
      expect(await readdir(empty.dir)).toEqual([]);
    } finally {
      await empty.cleanup();
    }
  });
});
