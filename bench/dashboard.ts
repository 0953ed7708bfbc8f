/**
 * Dashboard API latency: what one page poll costs, cold (first request after a commit: Nessie reads, metadata and
 * manifests) and warm (served from the short cache), on a lakehouse with many published batches.
 *
 *   node --import tsx bench/dashboard.ts [--batches N] [--rows N] [--polls N]     (or: npm run bench -- dashboard)
 *
 * Populates an embedded Nessie + local warehouse with N batches through the real write → audit → publish steps (one
 * in ten with an untrusted row), starts the dashboard, then measures each endpoint the page polls. Prints a markdown
 * table of per-endpoint cold latency and warm p50/p95, plus the whole poll.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { benchArgs, integerOption } from './_args.ts';
import { startNessieServer } from '../local/nessie/index.ts';
import { createNessieClient } from '../shared/catalog/nessie/index.ts';
import { startDashboard } from '../dashboard/server.ts';
import type { TaggedRecord } from '../shared/events/contract.ts';
import { loadPipelineConfig } from '../shared/runtime/pipeline-config.ts';
import { createFileIO, fileLocation } from '../shared/storage/index.ts';
import { auditBatch } from '../functions/auditor/audit-step.ts';
import type { WapContext } from '../shared/wap/wap-context.ts';
import { publishBatch } from '../functions/publisher/publish-batch.ts';
import { writeBatch } from '../functions/writer/write-batch.ts';
import { percentile, silentLogger } from './_measure.ts';

const USAGE = `Usage: npm run bench -- dashboard [options]

The dashboard's API: a full poll of every endpoint, cold and warm, over a catalog of published batches.

Options:
  --batches N  batches published first (default 40)
  --rows N     rows per batch (default 200)
  --polls N    warm polls measured (default 30)
  -h, --help   this text`;
const values = benchArgs(USAGE, {
  batches: { type: 'string', default: '40' },
  rows: { type: 'string', default: '200' },
  polls: { type: 'string', default: '30' },
});
const BATCHES = integerOption(USAGE, 'batches', values.batches);
const ROWS = integerOption(USAGE, 'rows', values.rows);
const POLLS = integerOption(USAGE, 'polls', values.polls);
const TABLE = 'production.parking_entry';
const ENDPOINTS = [
  '/api/overview',
  '/api/tables',
  `/api/tables/${TABLE}`,
  `/api/tables/${TABLE}/rows?limit=20`,
  '/api/branches',
  '/api/deadletters',
  '/api/maintenance',
];

function records(batch: number, eventTime: string): TaggedRecord[] {
  return Array.from({ length: ROWS }, (_, offset) => ({
    topic: 'parking-entry',
    partition: batch,
    offset: String(offset),
    key: `car-${offset}`,
    kafkaTime: eventTime,
    ingestedAt: new Date().toISOString(),
    source: '/bench',
    sourceId: `partition:${batch}/offset:${offset}`,
    table: 'parking_entry',
    headers: {},
    status: 'ok' as const,
    payload: {
      event_id: `evt-${batch}-${offset}`,
      timestamp: eventTime,
      car_id: `B-${offset}`,
      slot: `A-${offset % 100}`,
      latitude: batch % 10 === 0 && offset === 0 ? 123 : 52.5205,
      longitude: 13.405,
    },
  }));
}

async function timed(url: string): Promise<number> {
  const start = performance.now();
  const response = await fetch(url);
  const body = await response.text();
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${body}`);
  return performance.now() - start;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'floe-bench-dashboard-'));
  const nessie = await startNessieServer({ port: 0, dataDir: path.join(dir, 'nessie') });
  const io = createFileIO({ localFiles: true });
  const warehouse = `${fileLocation(path.join(dir, 'warehouse'))}/`;
  const config = loadPipelineConfig(path.resolve(import.meta.dirname, '../knative/config/pipeline.yaml'));
  const ctx: WapContext = {
    catalog: { client: createNessieClient({ uri: nessie.uri }), io, warehouse },
    config,
    log: silentLogger,
  };
  try {
    const eventTime = new Date(Date.now() - 60_000).toISOString();
    const populate = performance.now();
    for (let b = 0; b < BATCHES; b++)
      await publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', records(b, eventTime))));
    console.log(
      `populated ${BATCHES} batches × ${ROWS} rows in ${((performance.now() - populate) / 1000).toFixed(1)} s`,
    );

    const dashboard = await startDashboard({
      catalog: ctx.catalog,
      io,
      warehouse,
      functions: {},
      config,
      logger: silentLogger,
    });
    const rows: string[] = [];
    let coldPoll = 0;
    const cold = new Map<string, number>();
    for (const endpoint of ENDPOINTS) {
      const ms = await timed(new URL(endpoint, dashboard.url).href);
      cold.set(endpoint, ms);
      coldPoll += ms;
    }
    const warm = new Map<string, number[]>(ENDPOINTS.map((e) => [e, []]));
    const polls: number[] = [];
    for (let i = 0; i < POLLS; i++) {
      const start = performance.now();
      await Promise.all(ENDPOINTS.map(async (e) => warm.get(e)!.push(await timed(new URL(e, dashboard.url).href))));
      polls.push(performance.now() - start);
    }
    rows.push('| endpoint | cold ms | warm p50 ms | warm p95 ms |', '|---|---:|---:|---:|');
    for (const endpoint of ENDPOINTS) {
      const sorted = warm.get(endpoint)!.sort((a, b) => a - b);
      rows.push(
        `| \`${endpoint}\` | ${cold.get(endpoint)!.toFixed(1)} | ${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 95).toFixed(1)} |`,
      );
    }
    const sortedPolls = polls.sort((a, b) => a - b);
    rows.push(
      `| whole poll (sequential cold / parallel warm) | ${coldPoll.toFixed(1)} | ${percentile(sortedPolls, 50).toFixed(1)} | ${percentile(sortedPolls, 95).toFixed(1)} |`,
    );
    console.log(`\n${BATCHES} snapshots on ${TABLE}, ${BATCHES * ROWS} rows, ${POLLS} warm polls\n`);
    console.log(rows.join('\n'));
    await dashboard.stop();
  } finally {
    await nessie.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
