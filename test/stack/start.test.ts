/**
 * `floe start --duration` end to end: the embedded Kafka and Nessie, the functions as processes, the local eventing
 * plane and the simulator; afterwards every record is on main exactly once, `floe tables` on the stopped stack's
 * FLOE_HOME counts every record, and the tables read correctly through icebird and DuckDB.
 */
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { icebergRead } from 'icebird';
import { DuckDBInstance } from '@duckdb/node-api';
import { startNessieServer } from '../../local/nessie/index.ts';
import { freePort } from '../../local/stack/processes.ts';
import { loadPipelineConfig, tableNames, topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTables } from '../../shared/catalog/table-catalog.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import { currentSnapshot } from '../../shared/iceberg/metadata.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { runFloe } from '../helpers/cli.ts';
import { withFileFetch } from '../helpers/file-fetch.ts';
import { tempDir } from '../helpers/tmp.ts';

const PIPELINE = path.resolve(fileURLToPath(new URL('../../knative/config/pipeline.yaml', import.meta.url)));
const tmp = await tempDir('floe-start');
afterAll(() => tmp.cleanup());

interface Account {
  topic: string;
  sent: number;
  sentBad: number;
  trusted: number;
  untrusted: number;
  duplicates: number;
  missing: number;
}

describe('floe start --duration', () => {
  it('runs the pipeline for 30 s at a fixed rate with 5% bad records and accounts for every record', async () => {
    const result = await runFloe(
      [
        'start',
        '--home',
        tmp.dir,
        '--duration',
        '30s',
        '--rate',
        '40',
        '--bad-fraction',
        '0.05',
        '--seed',
        '11',
        '--json',
        '--kafka-port',
        '0',
        '--nessie-port',
        '0',
        '--broker-port',
        '0',
        '--dashboard-port',
        '0',
      ],
      { timeoutMs: 240_000, env: { FLOE_LOG_LEVEL: 'warn' } },
    );
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    // --json: stdout is the one JSON object, the human table went to stderr
    const summary = parseJson<{ ok: boolean; topics: Account[] }>(result.stdout);
    expect(summary.ok).toBe(true);
    expect(result.stderr).toContain('every record is on main exactly once');
    expect(summary.topics.map((t) => t.topic).sort()).toEqual(['parking-entry', 'parking-exit', 'parking-sensors']);
    for (const topic of summary.topics) {
      expect(topic.sent).toBeGreaterThan(0);
      expect(topic.trusted + topic.untrusted).toBe(topic.sent);
      expect(topic.duplicates).toBe(0);
      expect(topic.missing).toBe(0);
      // every bad record lands in _untrusted (a duplicate may escape detection only across concurrent batches)
      expect(topic.untrusted).toBeGreaterThan(0);
    }
    expect(result.stderr).toMatch(/produced \d+ \(\d+ bad\) · on main/);

    // The stack has stopped: `floe tables` reads what landed from the files under FLOE_HOME (no NESSIE_URI, and
    // nothing answering where it looks for the local stack).
    const tables = await runFloe(['tables', '--json'], {
      env: {
        FLOE_HOME: tmp.dir,
        FLOE_LOCAL_NESSIE_PORT: String(await freePort()),
        NESSIE_URI: undefined,
        FLOE_WAREHOUSE: undefined,
        FLOE_CONFIG: undefined,
      },
    });
    expect(tables.code, tables.stderr).toBe(0);
    expect(tables.stderr).toContain(`catalog: ${path.join(tmp.dir, 'nessie')} opened directly (read-only;`);
    const listed = parseJson<{ tables: { name: string; rows: number }[] }>(tables.stdout).tables;
    const config = loadPipelineConfig(PIPELINE);
    const expected = summary.topics.flatMap((t) => {
      const names = tableNames(config, topicConfig(config, t.topic)!);
      return [
        [names.production, t.trusted],
        [names.untrusted, t.untrusted],
      ] as [string, number][];
    });
    expect(listed.map((t) => [t.name, t.rows]).sort()).toEqual(expected.sort());
    for (const topic of summary.topics) {
      const names = tableNames(config, topicConfig(config, topic.topic)!);
      const rows = (name: string) => listed.find((t) => t.name === name)!.rows;
      expect(rows(names.production) + rows(names.untrusted)).toBe(topic.sent);
    }

    // The tables the run left behind, read by others: icebird (an independent Iceberg reader) and DuckDB (Parquet).
    const nessie = await startNessieServer({ port: 0, dataDir: path.join(tmp.dir, 'nessie') });
    try {
      const catalog = {
        client: createNessieClient({ uri: nessie.uri }),
        io: createFileIO({ localFiles: true }),
        warehouse: `file://${tmp.dir}/warehouse/`,
      };
      const { tables } = await loadTables(catalog, 'main', [
        'production.parking_entry',
        'production.parking_entry_untrusted',
      ]);
      const production = tables.get('production.parking_entry')!;
      const ours = await scanRows(production.metadata, { io: catalog.io });
      const entry = summary.topics.find((t) => t.topic === 'parking-entry')!;
      expect(ours).toHaveLength(entry.trusted);

      const metadataFile = production.metadataLocation.slice(production.metadataLocation.lastIndexOf('/') + 1);
      const theirs = await withFileFetch(() =>
        icebergRead({ tableUrl: production.metadata.location, metadataFileName: metadataFile }),
      );
      expect(theirs).toHaveLength(ours.length);
      const byCoordinate = (r: Record<string, unknown>) => `${r[Column.partition]}:${r[Column.offset]}`;
      expect(new Set(theirs.map(byCoordinate))).toEqual(new Set(ours.map(byCoordinate)));
      const sample = ours[0];
      const match = theirs.find((r: Record<string, unknown>) => byCoordinate(r) === byCoordinate(sample))!;
      expect(match.event_id).toBe(sample.event_id);
      expect(match.car_id).toBe(sample.car_id);
      expect((match.image as { sha256: string } | null)?.sha256 ?? null).toBe(
        (sample.image as { sha256: string } | null)?.sha256 ?? null,
      );

      const files: string[] = [];
      for (const manifest of await readManifestFiles(catalog.io, currentSnapshot(production.metadata))) {
        for (const e of await readManifestEntries(catalog.io, manifest, production.metadata))
          if (e.status !== 2) files.push(e.dataFile.filePath.slice('file://'.length));
      }
      const db = await DuckDBInstance.create(':memory:');
      const connection = await db.connect();
      try {
        const reader = await connection.runAndReadAll(
          `select count(*)::INTEGER, count(distinct _topic || ':' || _kafka_partition || ':' || _offset)::INTEGER, count(image)::INTEGER from read_parquet([${files.map((f) => `'${f}'`).join(',')}])`,
        );
        const [count, distinct, images] = reader.getRows()[0];
        expect(count).toBe(ours.length);
        expect(distinct).toBe(ours.length);
        expect(images).toBe(ours.filter((r) => r.image !== null).length);
      } finally {
        connection.closeSync();
      }
      const untrusted = await scanRows(tables.get('production.parking_entry_untrusted')!.metadata, { io: catalog.io });
      expect(untrusted.every((r) => (r[Column.reasons] as string[]).length > 0)).toBe(true);
    } finally {
      await nessie.stop();
    }
  }, 300_000);
});

describe('floe start, stopped with Ctrl-C', () => {
  it('stops the simulator, drains every in-flight batch and accounts for every record', async () => {
    const home = path.join(tmp.dir, 'ctrl-c');
    const result = await runFloe(
      [
        'start',
        '--home',
        home,
        '--rate',
        '40',
        '--seed',
        '5',
        '--status-interval',
        '1s',
        '--json',
        '--kafka-port',
        '0',
        '--nessie-port',
        '0',
        '--broker-port',
        '0',
        '--dashboard-port',
        '0',
      ],
      { timeoutMs: 240_000, env: { FLOE_LOG_LEVEL: 'warn' }, ctrlCWhen: /produced [1-9]\d{2,} \(/ },
    );
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    expect(result.stderr).toContain('stopping the simulator and draining in-flight batches');
    // The terminal's SIGINT reaches the whole foreground group; the functions must keep running until drained.
    expect(result.stderr).not.toMatch(/exited unexpectedly/);
    const summary = parseJson<{ ok: boolean; topics: Account[] }>(result.stdout);
    expect(summary.ok).toBe(true);
    for (const topic of summary.topics) {
      expect(topic.sent).toBeGreaterThan(0);
      expect(topic.trusted + topic.untrusted).toBe(topic.sent);
      expect(topic.duplicates).toBe(0);
      expect(topic.missing).toBe(0);
    }
  }, 300_000);
});
