/**
 * The KafkaSource stand-in: every KafkaSource of the manifests as a kafkajs consumer group feeding its sink, exactly
 * as eventing-kafka-broker's source dispatcher does (./source.ts). The manifests' `bootstrapServers` and sink name
 * cluster addresses; locally `brokers` and the sink URLs (`sinkUrl` for a Broker, `services` for a Knative Service)
 * replace them. A Service sink with a `containerConcurrency` takes at most that many requests at once from all the
 * sources together, as its queue-proxy admits them: the rest wait in the sources, their records in Kafka.
 */
import { createLogger, type Logger } from '../../shared/runtime/logger.ts';
import { createLane, type Lane } from '../broker/lane.ts';
import type { KafkaSource, Manifests } from '../knative/manifests.ts';
import { startKafkaSource, type RunningSource, type SourceStats } from './source.ts';

export type { SourceStats } from './source.ts';
export {
  recordToEvent,
  javaOffsetDateTime,
  KAFKA_EVENT_TYPE,
  type KafkaRecord,
  type SourceIdentity,
} from './record-event.ts';

export interface KafkaSourcesOptions {
  manifests: Manifests;
  /** Bootstrap servers of the local Kafka (`host:port`). */
  brokers: string[];
  /** Where a source whose sink is a Broker posts: the local broker's ingress. */
  sinkUrl: string;
  /** Knative Service name → URL, for sources whose sink is a Service (floe's: the tagger). */
  services?: Record<string, string>;
  /** The dead-letter sink's URL; required when a source's delivery names one. */
  deadLetterUrl?: string;
  /** Namespace in the events' `source` (`/apis/v1/namespaces/<ns>/kafkasources/…`). Default `floe`. */
  namespace?: string;
  logger?: Logger;
  /**
   * Records of one partition in flight at most (`unordered`). Default 50: the `max.poll.records` of Knative's stock
   * KafkaSource data plane, which floe keeps (knative/README.md, Kafka data plane).
   */
  maxPendingPerPartition?: number;
  /** On stop, how long records in flight may still complete and be committed. Default 10 s. */
  stopGraceMs?: number;
}

export interface RunningKafkaSources {
  stats(): { perSource: Record<string, SourceStats> };
  /** Stops consuming, lets what is in flight complete (up to the grace time), commits, leaves the groups. */
  stop(): Promise<void>;
}

export async function startKafkaSources(options: KafkaSourcesOptions): Promise<RunningKafkaSources> {
  const logger = options.logger ?? createLogger({ name: 'kafka-source' });
  const sources: RunningSource[] = [];
  const sinkLimits = new Map<string, Lane>();
  try {
    for (const source of options.manifests.kafkaSources) {
      sources.push(
        await startKafkaSource(source, {
          brokers: options.brokers,
          sinkUrl: sinkUrl(source, options),
          deadLetterUrl: options.deadLetterUrl,
          namespace: options.namespace ?? 'floe',
          logger,
          maxPendingPerPartition: options.maxPendingPerPartition ?? 50,
          stopGraceMs: options.stopGraceMs ?? 10_000,
          sinkLimit: sinkLimit(source, options.manifests, sinkLimits),
        }),
      );
    }
  } catch (err) {
    await Promise.all(sources.map((source) => source.stop()));
    throw err;
  }
  return {
    stats: () => ({ perSource: Object.fromEntries(sources.map((source) => [source.name, source.stats()])) }),
    stop: async () => {
      await Promise.all(sources.map((source) => source.stop()));
    },
  };
}

/** The queue-proxy limit of a Service sink with a `containerConcurrency`, one per Service (all its senders share it). */
function sinkLimit(source: KafkaSource, manifests: Manifests, limits: Map<string, Lane>): Lane | undefined {
  const { sink } = source;
  if (sink.kind !== 'Service') return undefined;
  const concurrency = manifests.services.find((service) => service.name === sink.name)?.containerConcurrency;
  if (!concurrency) return undefined;
  let lane = limits.get(sink.name);
  if (!lane) {
    lane = createLane(concurrency);
    limits.set(sink.name, lane);
  }
  return lane;
}

function sinkUrl(source: KafkaSource, options: KafkaSourcesOptions): string {
  const { sink } = source;
  if (sink.kind === 'Broker') return options.sinkUrl;
  if (sink.kind === 'URI') return sink.uri;
  const base = options.services?.[sink.name];
  if (!base)
    throw new Error(
      `KafkaSource ${source.name}: its sink, service ${sink.name}, has no URL (known: ${Object.keys(options.services ?? {}).join(', ') || 'none'})`,
    );
  return sink.path ? new URL(sink.path, base).toString() : base;
}
