/**
 * What a table's history costs every batch. floe commits a snapshot per table per batch, and every commit reads and
 * rewrites the table's whole metadata file, so each retained snapshot adds to the cost of every later batch. The real
 * tagger, writer, auditor and publisher run in this process on the embedded Nessie and a local warehouse; simulator
 * records go through them in 130-row batches of `parking-entry`, and the CPU each function spends per batch is taken
 * (process.cpuUsage around each step, the steps one after the other) at each history size. Between sizes, one-row
 * batches add snapshots. Beside it: parsing and writing the production table's metadata file at that size, the part
 * that grows.
 *
 *   npm run bench -- history [--snapshots 0,1000,2000] [--batches 10]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createNessieClient } from '../shared/catalog/nessie/index.ts';
import { loadTables, type Catalog } from '../shared/catalog/table-catalog.ts';
import type { CloudEventMessage } from '../shared/events/cloudevent.ts';
import { parseTableMetadata, serializeTableMetadata } from '../shared/iceberg/metadata.ts';
import { loadEnv } from '../shared/runtime/env.ts';
import type { Runtime } from '../shared/runtime/runtime.ts';
import { createFileIO } from '../shared/storage/index.ts';
import { auditorFunction } from '../functions/auditor/index.ts';
import { publisherFunction } from '../functions/publisher/index.ts';
import { taggerFunction } from '../functions/tagger/index.ts';
import { writerFunction } from '../functions/writer/index.ts';
import { startNessieServer } from '../local/nessie/index.ts';
import { createEventSource } from '../local/simulator/events.ts';
import { driven, kafkaEvent } from '../test/wap/chain-runner.ts';
import { benchArgs } from './_args.ts';
import { silentLogger } from './_measure.ts';

const USAGE = `Usage: npm run bench -- history [options]

CPU per 130-row batch of the writer, auditor and publisher as the production table's history grows.

Options:
  --snapshots LIST  history sizes to measure at, ascending (default 0,1000,2000)
  --batches N       measured batches at each size (default 10)
  -h, --help        this text
`;

const values = benchArgs(USAGE, {
  snapshots: { type: 'string', default: '0,1000,2000' },
  batches: { type: 'string', default: '10' },
});
const sizes = values.snapshots.split(',').map(Number);
if (sizes.some((n, i) => !Number.isInteger(n) || n < 0 || (i > 0 && n <= sizes[i - 1]))) {
  process.stderr.write(`--snapshots must be ascending non-negative integers, got ${values.snapshots}\n\n${USAGE}`);
  process.exit(2);
}
const measured = Number(values.batches);
if (!Number.isInteger(measured) || measured < 1) {
  process.stderr.write(`--batches must be a positive integer, got ${values.batches}\n\n${USAGE}`);
  process.exit(2);
}
const BATCH_ROWS = 130;
const TOPIC = 'parking-entry';
const TABLE = 'production.parking_entry';

const home = await mkdtemp(path.join(tmpdir(), 'floe-bench-history-'));
const nessie = await startNessieServer({ port: 0, dataDir: path.join(home, 'nessie') });
try {
  const env = loadEnv({
    FLOE_WAREHOUSE: path.join(home, 'warehouse'),
    NESSIE_URI: nessie.uri,
    FLOE_CONFIG: 'knative/config/pipeline.yaml',
    FLOE_BATCH_LINGER_MS: '5',
  });
  const io = createFileIO({ localFiles: true });
  const catalog: Catalog = { client: createNessieClient({ uri: nessie.uri }), io, warehouse: env.warehouse };
  const runtime: Runtime = { env, log: silentLogger, io, catalog };
  const [tag, write, audit, publish] = [taggerFunction, writerFunction, auditorFunction, publisherFunction].map((f) => {
    const fn = driven(f(runtime));
    return async (events: CloudEventMessage[]) => {
      const { out, failures } = await fn.deliver(events);
      if (failures.length) throw new Error(`${f.name} failed: ${String(failures[0])}`);
      return out;
    };
  });
  const source = createEventSource({ seed: 7 });
  let offset = 0;
  /** The next simulator record of the topic, as its KafkaSource delivers it. */
  const nextEvent = (): CloudEventMessage => {
    let record = source.next();
    while (record.role !== 'entry') record = source.next();
    return kafkaEvent({
      topic: TOPIC,
      partition: 0,
      offset: offset++,
      key: record.key,
      value: record.value,
      contentType: record.headers['content-type'],
    });
  };
  const cpuMs = async (step: () => Promise<CloudEventMessage[]>) => {
    const before = process.cpuUsage();
    const out = await step();
    const used = process.cpuUsage(before);
    return { out, ms: (used.user + used.system) / 1000 };
  };
  /** One batch through the chain; the CPU of each step but the tagger's. */
  const batch = async (rows: number) => {
    const tagged = await tag(Array.from({ length: rows }, nextEvent));
    const written = await cpuMs(() => write(tagged));
    const audited = await cpuMs(() => audit(written.out));
    const published = await cpuMs(() => publish(audited.out));
    if (published.out.length !== 1 || published.out[0].attributes.type !== 'dev.floe.batch.published')
      throw new Error(`batch not published: ${published.out.map((e) => e.attributes.type).join(', ') || 'nothing'}`);
    return { writer: written.ms, auditor: audited.ms, publisher: published.ms };
  };
  const production = async () => (await loadTables(catalog, 'main', [TABLE])).tables.get(TABLE);

  // Warm-up: the JIT and the caches, outside every measurement.
  for (let i = 0; i < 5; i++) await batch(BATCH_ROWS);
  const rows: string[] = [];
  let snapshots = (await production())?.metadata.snapshots.length ?? 0;
  for (const size of sizes) {
    while (snapshots < size) {
      await batch(1);
      snapshots++;
      if (snapshots % 100 === 0) process.stderr.write(`\rhistory bench: ${snapshots} / ${size} snapshots`);
    }
    process.stderr.write(`\rhistory bench: measuring at ${snapshots} snapshots          \n`);
    const sum = { writer: 0, auditor: 0, publisher: 0 };
    for (let i = 0; i < measured; i++) {
      const used = await batch(BATCH_ROWS);
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += used[k];
    }
    snapshots += measured;
    const table = (await production())!;
    const bytes = await io.read(table.metadataLocation);
    const parse = await cpuMs(async () => {
      for (let i = 0; i < 10; i++) parseTableMetadata(bytes, `${table.metadataLocation}#${i}`);
      return [];
    });
    const serialize = await cpuMs(async () => {
      for (let i = 0; i < 10; i++) serializeTableMetadata(table.metadata);
      return [];
    });
    const per = (n: number) => (n / measured).toFixed(1);
    rows.push(
      `| ${table.metadata.snapshots.length.toLocaleString('en-US')} | ${(bytes.byteLength / 1024).toFixed(0)} | ${per(sum.writer)} | ${per(sum.auditor)} | ${per(sum.publisher)} | ${per(sum.writer + sum.auditor + sum.publisher)} | ${(parse.ms / 10).toFixed(1)} | ${(serialize.ms / 10).toFixed(1)} |`,
    );
  }
  console.log(`\nCPU ms per ${BATCH_ROWS}-row batch of ${TOPIC}, mean of ${measured}, against ${TABLE}'s history\n`);
  console.log(
    '| snapshots | metadata KiB | writer | auditor | publisher | all three | parse metadata | write metadata |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  console.log(
    `\nEach one-row batch also adds a data file to main (compaction merges them hourly), so the auditor's unique check grows with files too.`,
  );
} finally {
  await nessie.stop();
  await rm(home, { recursive: true, force: true });
}
