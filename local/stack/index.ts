/**
 * The whole pipeline on one machine: the embedded Kafka broker and Nessie catalog, a local warehouse directory, the
 * functions as separate processes behind the same host as in the cluster, and the local eventing plane (Broker,
 * KafkaSource stand-ins, PingSource scheduler) wired from the manifests in `knative/` — plus the dashboard. Each
 * embedded part is replaced by a real one when KAFKA_BROKERS / NESSIE_URI / FLOE_WAREHOUSE (+ S3_*) say so.
 */
import kafkajs from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { currentSnapshot } from '../../shared/iceberg/metadata.ts';
import { loadEnv, checkNessieUri, normalizeWarehouse, warehouseIO, type FloeEnv } from '../../shared/runtime/env.ts';
import type { Logger } from '../../shared/runtime/logger.ts';
import { tableNames, topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { WAP_PREFIX } from '../../shared/wap/batch-branches.ts';
import { startBroker, type RunningBroker } from '../broker/index.ts';
import { startKafkaBroker, kafkajsCodecs } from '../kafka/index.ts';
import { startKafkaSources, type RunningKafkaSources } from '../kafka-source/index.ts';
import { loadManifests, type Manifests } from '../knative/manifests.ts';
import { startNessieServer } from '../nessie/index.ts';
import { startScheduler, type RunningScheduler } from '../scheduler/index.ts';
import { FUNCTIONS } from '../../functions/registry.ts';
import {
  destinationReady,
  listDeadLetters,
  replayDeadLetters,
  type ReplayResult,
} from '../../shared/maintenance/deadletter-replay.ts';
import { createEmitter } from '../../shared/runtime/event-emitter.ts';
import { Property } from '../../shared/wap/batch-branches.ts';
import { EventType } from '../../shared/events/contract.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import type { Whereabouts } from './accounting.ts';
import { functionSink } from './function-sink.ts';
import { fetchGroupOffsets } from '../delivery/consumer.ts';
import { checkBundles, freePort, functionEntry, functionProcess, type FunctionProcess } from './processes.ts';

Object.assign(kafkajs.CompressionCodecs, kafkajsCodecs());

export interface StackOptions {
  /** FLOE_HOME: embedded data (kafka/, nessie/, warehouse/, logs/). */
  home: string;
  logger: Logger;
  /** Fixed ports for the embedded services (0 or absent = a free port). */
  ports?: { kafka?: number; nessie?: number; broker?: number; dashboard?: number };
  /** The pipeline config file (FLOE_CONFIG). */
  configFile: string;
  /** Environment for the functions on top of the stack's (e.g. FLOE_BATCH_LINGER_MS). */
  functionEnv?: Record<string, string>;
  /**
   * Run each function from its bundle `<bundles>/<function>.mjs` (what `npm run build` writes and the image ships)
   * instead of the TypeScript sources. Checked before anything starts.
   */
  bundles?: string;
  /** Partitions of topics the stack creates on the embedded broker. Default 3. */
  partitions?: number;
  dashboard?: boolean;
  /** Use these instead of the embedded parts (from KAFKA_BROKERS, NESSIE_URI, FLOE_WAREHOUSE + S3_*). */
  external?: { kafkaBrokers?: string[]; nessieUri?: string; warehouse?: string; s3Env?: Record<string, string> };
}

export interface StackStatus {
  /** Rows on main per topic table (from snapshot summaries). */
  trusted: number;
  untrusted: number;
  /** Kafka records not yet consumed by the KafkaSource stand-ins. */
  lag: number;
  /** Records read but not yet delivered or dead-lettered. */
  inFlight: number;
  /** WAP branches that are still moving (rejected batches keep theirs and are counted apart). */
  openBranches: number;
  keptBranches: number;
  /** Events dead-lettered by the KafkaSources and by the Broker's Triggers: out of the flow, so not "in flight". */
  deadLettered: number;
  /** Per function: how many times supervision restarted it after it exited unexpectedly. */
  restarts: Record<string, number>;
}

export interface RunningStack {
  kafkaBrokers: string[];
  nessieUri: string;
  warehouse: string;
  brokerUrl: string;
  dashboardUrl?: string;
  functions: Record<string, FunctionProcess>;
  env: FloeEnv;
  catalog: Catalog;
  manifests: Manifests;
  scheduler: RunningScheduler;
  /** Stops the embedded Nessie server (every request in between fails) and starts it again on the same data. */
  restartNessie(): Promise<void>;
  /**
   * Stops the local Broker and starts it again on the same port (senders retry meanwhile); its dispatcher goes on from
   * the committed offsets in the Broker's topic.
   */
  restartBroker(): Promise<void>;
  status(): Promise<StackStatus>;
  /**
   * Re-posts every stored dead letter to the Broker and removes those it accepted (`shared/maintenance/deadletter-replay.ts`).
   * Letters whose destination is not ready stay.
   */
  replayDeadLetters(): Promise<ReplayResult>;
  /** Where records not yet on main are kept: the open WAP branches' offset ranges and the committed Kafka offsets. */
  whereabouts(): Promise<Whereabouts>;
  /**
   * Resolves once nothing is moving: all records consumed and delivered, every batch published or rejected. Batches
   * left behind by a crash (their event lost) are re-driven by firing the janitor's `redrive` PingSource.
   */
  waitIdle(options?: { timeoutMs?: number; onPoll?: (status: StackStatus) => void }): Promise<StackStatus>;
  stop(): Promise<void>;
}

type Stoppable = () => Promise<void> | void;

/** `waitIdle` ran out of time; `status` is what was still moving. */
export class NotIdleError extends Error {
  constructor(
    message: string,
    readonly status: StackStatus,
  ) {
    super(message);
    this.name = 'NotIdleError';
  }
}

/**
 * Local defaults on top of the manifests' env: batches move in seconds here, so a batch whose event a crash lost is
 * re-driven after 20 s instead of the cluster's 2 minutes.
 */
const LOCAL_FUNCTION_ENV: Record<string, string> = { FLOE_STALL_AFTER: '20s' };

export async function startStack(options: StackOptions): Promise<RunningStack> {
  const { logger, home } = options;
  const stops: Stoppable[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.warn({ err }, 'stopping a part of the stack failed');
      }
    }
  };
  try {
    mkdirSync(home, { recursive: true });
    const manifests = await loadManifests();
    const functionServices = manifests.services.filter(
      (s) => s.function && (FUNCTIONS as readonly string[]).includes(s.function),
    );
    if (options.bundles !== undefined)
      checkBundles([...new Set(functionServices.map((s) => s.function!))], options.bundles);
    const topics = [...new Set(manifests.kafkaSources.flatMap((s) => s.topics))];

    let kafkaBrokers = options.external?.kafkaBrokers;
    if (!kafkaBrokers) {
      const kafka = await startKafkaBroker({
        port: options.ports?.kafka ?? 0,
        dataDir: path.join(home, 'kafka'),
        defaultPartitions: options.partitions ?? 3,
        logger: logger.child({ part: 'kafka' }),
      });
      stops.push(() => kafka.stop());
      for (const topic of topics) await kafka.createTopic(topic, options.partitions ?? 3).catch(() => undefined);
      kafkaBrokers = [kafka.brokers];
    } else {
      // A real broker's topics are not created by a consumer group's subscription (it fails on a missing topic), and
      // one auto-created by the first produce gets the broker's default partition count.
      await createTopicsIfAbsent(kafkaBrokers, topics, options.partitions ?? 3);
    }

    const warehouse = normalizeWarehouse(options.external?.warehouse ?? path.join(home, 'warehouse'));
    let nessieUri = options.external?.nessieUri;
    let restartNessie: (() => Promise<void>) | undefined;
    if (!nessieUri) {
      const nessieOptions = {
        dataDir: path.join(home, 'nessie'),
        logger: logger.child({ part: 'nessie' }),
        // Its Iceberg REST endpoint announces the warehouse and reads metadata files with the stack's storage.
        warehouse,
        fileIO: { read: (location: string) => catalog.io.read(location) },
      };
      let nessie = await startNessieServer({ ...nessieOptions, port: options.ports?.nessie ?? 0 });
      const nessiePort = nessie.port;
      stops.push(() => nessie.stop());
      nessieUri = nessie.uri;
      restartNessie = async () => {
        await nessie.stop();
        nessie = await startNessieServer({ ...nessieOptions, port: nessiePort });
      };
    }

    const brokerPort = options.ports?.broker || (await freePort());
    const brokerUrl = `http://127.0.0.1:${brokerPort}`;
    const baseEnv: Record<string, string> = {
      FLOE_WAREHOUSE: warehouse,
      NESSIE_URI: nessieUri,
      FLOE_CONFIG: options.configFile,
      ...(options.external?.s3Env ?? {}),
    };
    const env = loadEnv({ ...process.env, ...baseEnv });
    const catalog: Catalog = {
      client: createNessieClient({ uri: nessieUri }),
      io: warehouseIO(env),
      warehouse: env.warehouse,
    };

    // Functions: every Knative Service of the manifests, with its literal env, K_SINK where a SinkBinding says so.
    const functions: Record<string, FunctionProcess> = {};
    // The dashboard is not a CloudEvents function: the stack serves it in-process below.
    for (const service of functionServices) {
      const port = await freePort();
      const fn = functionProcess({
        name: service.name,
        port,
        logDir: path.join(home, 'logs'),
        logger,
        entry: functionEntry(service.function!, options.bundles),
        env: {
          ...service.env,
          ...LOCAL_FUNCTION_ENV,
          ...baseEnv,
          ...(options.functionEnv ?? {}),
          FLOE_FUNCTION: service.function,
          ...withSink(functionSink(manifests, service.name, brokerUrl)),
        },
      });
      functions[service.name] = fn;
      stops.push(() => fn.stop());
    }
    await Promise.all(Object.values(functions).map((fn) => fn.ready()));

    const services = Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.url]));
    // The Broker's topic lives in the stack's Kafka: a restarted Broker goes on where its dispatcher committed.
    const brokerOptions = {
      manifests,
      services,
      port: brokerPort,
      kafka: { brokers: kafkaBrokers },
      logger: logger.child({ part: 'broker' }),
    };
    let broker: RunningBroker = await startBroker(brokerOptions);
    stops.push(() => broker.stop());

    const sources: RunningKafkaSources = await startKafkaSources({
      manifests,
      brokers: kafkaBrokers,
      sinkUrl: broker.url,
      services,
      deadLetterUrl: functions.deadletter?.url,
      logger: logger.child({ part: 'kafka-source' }),
    });
    stops.push(() => sources.stop());

    const scheduler = startScheduler({ manifests, brokerUrl: broker.url, logger: logger.child({ part: 'scheduler' }) });
    stops.push(() => scheduler.stop());

    let dashboardUrl: string | undefined;
    if (options.dashboard !== false) {
      const { startDashboard } = await import('../../dashboard/server.ts');
      const dashboard = await startDashboard({
        catalog,
        io: catalog.io,
        warehouse,
        config: env.pipeline,
        port: options.ports?.dashboard ?? 0,
        logger: logger.child({ part: 'dashboard' }),
        functions: Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.url])),
      });
      stops.push(() => dashboard.stop());
      dashboardUrl = dashboard.url;
    }

    const config = env.pipeline;
    async function status(): Promise<StackStatus> {
      let trusted = 0;
      let untrusted = 0;
      const names = topics
        .map((t) => topicConfig(config, t))
        .filter((t) => t !== undefined)
        .map((t) => tableNames(config, t));
      const { tables } = await loadTables(
        catalog,
        'main',
        names.flatMap((n) => [n.production, n.untrusted]),
      );
      const rows = (name: string) => {
        const metadata = tables.get(name)?.metadata;
        return Number((metadata && currentSnapshot(metadata)?.summary['total-records']) ?? 0);
      };
      for (const n of names) {
        trusted += rows(n.production);
        untrusted += rows(n.untrusted);
      }
      const perSource = Object.values(sources.stats().perSource);
      const refs = await catalog.client.listReferences({ fetch: 'ALL' });
      const wap = refs.filter((r) => r.name.startsWith(WAP_PREFIX));
      const kept = wap.filter((r) =>
        /"verdict":"failed"/.test(r.metadata?.commitMetaOfHEAD?.allProperties?.['floe.result']?.[0] ?? ''),
      );
      return {
        trusted,
        untrusted,
        lag: perSource.reduce((sum, s) => sum + s.lag, 0),
        inFlight:
          perSource.reduce((sum, s) => sum + s.consumed - s.delivered - s.deadLettered - s.dropped, 0) +
          broker.stats().inFlight,
        openBranches: wap.length - kept.length,
        keptBranches: kept.length,
        deadLettered:
          perSource.reduce((sum, s) => sum + s.deadLettered, 0) +
          Object.values(broker.stats().triggers).reduce((sum, t) => sum + t.deadLettered, 0),
        restarts: Object.fromEntries(Object.values(functions).map((fn) => [fn.name, fn.restarts()])),
      };
    }

    const redrive = manifests.pingSources.find((p) => p.extensions.floejob === 'redrive')?.name;
    const replayTo = createEmitter(broker.url, { retries: 3 });
    return {
      kafkaBrokers,
      nessieUri,
      warehouse,
      brokerUrl: broker.url,
      dashboardUrl,
      functions,
      env,
      catalog,
      manifests,
      scheduler,
      status,
      async whereabouts() {
        // Offsets first, branches second: a batch written after the branch listing whose offsets were committed before
        // the offsets were read would be in neither (169 records reported missing under a 30 s linger). In this order a
        // record committed when the offsets are read is already on a branch or on main, and a branch merged after it
        // is listed puts its records on main before main is scanned.
        const committed = new Map<string, Map<number, bigint>>();
        let inBroker = new Set<string>();
        const admin = new kafkajs.Kafka({
          clientId: 'floe-stack-accounting',
          brokers: kafkaBrokers!,
          logLevel: kafkajs.logLevel.NOTHING,
        }).admin();
        await admin.connect();
        try {
          for (const source of manifests.kafkaSources) {
            const groupId = source.consumerGroup ?? `knative-kafka-source-${source.name}`;
            for (const { topic, partitions } of await fetchGroupOffsets(admin, groupId, source.topics)) {
              const byPartition = committed.get(topic) ?? new Map<number, bigint>();
              committed.set(topic, byPartition);
              for (const { partition, offset } of partitions) {
                // -1: nothing committed, every record will be read again.
                const next = BigInt(offset) < 0n ? 0n : BigInt(offset);
                const known = byPartition.get(partition);
                byPartition.set(partition, known === undefined || next < known ? next : known);
              }
            }
          }
          // Second: a record whose source offset was committed is in the Broker's topic, or past it on a branch.
          inBroker = broker.kafka ? await uncommittedTagged(kafkaBrokers!, admin, broker.kafka) : new Set();
        } finally {
          await admin.disconnect();
        }
        const onBranches = new Set<string>();
        const refs = await catalog.client.listReferences({ fetch: 'ALL' });
        for (const ref of refs.filter((r) => r.name.startsWith(WAP_PREFIX))) {
          const text = ref.metadata?.commitMetaOfHEAD?.allProperties?.[Property.result]?.[0];
          if (!text) continue;
          let result: { topic?: unknown; offsets?: Record<string, [string, string][]> };
          try {
            result = parseJson(text);
          } catch {
            continue;
          }
          if (typeof result.topic !== 'string' || !result.offsets) continue;
          for (const [partition, ranges] of Object.entries(result.offsets)) {
            for (const [first, last] of ranges)
              for (let o = BigInt(first); o <= BigInt(last); o++) onBranches.add(`${result.topic}/${partition}/${o}`);
          }
        }
        return { onBranches, committed, inBroker };
      },
      async replayDeadLetters() {
        const { letters } = await listDeadLetters(catalog.io, warehouse);
        const result = await replayDeadLetters(catalog.io, letters, replayTo, { healthy: destinationReady });
        if (result.replayed.length || result.failed.length)
          logger.info(
            { replayed: result.replayed.length, failed: result.failed.length, skipped: result.skipped.length },
            'dead letters replayed to the broker',
          );
        return result;
      },
      async restartNessie() {
        if (!restartNessie) throw new Error('Nessie is external (NESSIE_URI): the stack cannot restart it');
        await restartNessie();
      },
      async restartBroker() {
        await broker.stop();
        broker = await startBroker(brokerOptions);
      },
      async waitIdle({ timeoutMs = 120_000, onPoll } = {}) {
        const deadline = Date.now() + timeoutMs;
        let quiet = 0;
        let stuck = 0;
        for (;;) {
          const current = await status();
          onPoll?.(current);
          const flowing = current.lag > 0 || current.inFlight > 0;
          const idle = !flowing && current.openBranches === 0;
          quiet = idle ? quiet + 1 : 0;
          // Two quiet polls in a row: a batch could be between the writer's commit and its event reaching the broker.
          if (quiet >= 2) return current;
          // Nothing flows but batches stay open: their events were lost (a crash); the janitor re-drives them.
          stuck = !flowing && current.openBranches > 0 ? stuck + 1 : 0;
          if (redrive && stuck > 0 && stuck % 10 === 0) {
            logger.info({ openBranches: current.openBranches }, 'batches are stalled: re-driving them');
            await scheduler.fire(redrive).catch((err) => logger.warn({ err }, 're-drive failed'));
          }
          if (Date.now() > deadline)
            throw new NotIdleError(
              `the pipeline did not settle within ${timeoutMs} ms: ${JSON.stringify(current)}`,
              current,
            );
          await new Promise((r) => setTimeout(r, 500));
        }
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The source coordinates (`<topic>/<partition>/<offset>`, the tagged event's id) of the tagged records in the Broker's
 * topic after its dispatcher's committed offsets: the Broker delivers them again on the next start. Read with a
 * throw-away consumer group, deleted afterwards.
 */
async function uncommittedTagged(
  brokers: string[],
  admin: kafkajs.Admin,
  { topic, groupId }: { topic: string; groupId: string },
): Promise<Set<string>> {
  const found = new Set<string>();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
  const from = new Map<number, bigint>();
  for (const group of await fetchGroupOffsets(admin, groupId, [topic]))
    for (const { partition, offset } of group.partitions)
      from.set(partition, BigInt(offset) < 0n ? 0n : BigInt(offset));
  const behind = [...ends].filter(([partition, end]) => end > (from.get(partition) ?? 0n));
  if (behind.length === 0) return found;
  const readerGroup = `floe-stack-accounting-${randomUUID()}`;
  const consumer = new kafkajs.Kafka({
    clientId: 'floe-stack-accounting',
    brokers,
    logLevel: kafkajs.logLevel.NOTHING,
  }).consumer({ groupId: readerGroup, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const left = new Set(behind.map(([partition]) => partition));
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            const start = from.get(batch.partition) ?? 0n;
            const end = ends.get(batch.partition) ?? 0n;
            for (const message of batch.messages) {
              const offset = BigInt(message.offset);
              if (offset >= end) break;
              const type = message.headers?.ce_type?.toString();
              if (offset >= start && type === EventType.recordTagged) {
                const id = message.headers?.ce_id?.toString();
                if (id) found.add(id);
              }
            }
            const last = batch.messages.at(-1);
            if (last && BigInt(last.offset) + 1n >= end && left.delete(batch.partition) && left.size === 0) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([readerGroup]).catch(() => undefined);
  }
  return found;
}

function withSink(sink: string | undefined): Record<string, string> {
  return sink ? { K_SINK: sink } : {};
}

/** The stack options a process environment asks for: real Kafka / Nessie / warehouse when given, else embedded. */
export function externalFromEnv(env: NodeJS.ProcessEnv): StackOptions['external'] {
  if (env.NESSIE_URI) checkNessieUri(env.NESSIE_URI);
  const s3Env = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => v !== undefined && /^(S3_|AWS_)/.test(k)),
  ) as Record<string, string>;
  return {
    ...(env.KAFKA_BROKERS
      ? {
          kafkaBrokers: env.KAFKA_BROKERS.split(',')
            .map((b) => b.trim())
            .filter(Boolean),
        }
      : {}),
    ...(env.NESSIE_URI ? { nessieUri: env.NESSIE_URI } : {}),
    ...(env.FLOE_WAREHOUSE ? { warehouse: env.FLOE_WAREHOUSE } : {}),
    s3Env,
  };
}

async function createTopicsIfAbsent(brokers: string[], topics: string[], partitions: number): Promise<void> {
  const admin = new kafkajs.Kafka({
    clientId: 'floe-stack-topics',
    brokers,
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    // Answers false, not an error, when they all exist already.
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}
