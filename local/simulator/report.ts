/**
 * What a simulation run sent: per topic the acknowledged records, the bad ones by kind, and the Kafka coordinates of
 * every acknowledged record as compact per-partition offset ranges. The local stack's final accounting compares the
 * tables against exactly these coordinates, so a record is counted only once Kafka acknowledged it.
 */
import { BAD_KINDS, TOPIC_ROLES, type BadKind, type TopicRole } from './events.ts';

/** Inclusive offset range. Offsets are 64-bit: bigint, never number. */
export type OffsetRange = [first: bigint, last: bigint];

export interface PartitionOffsets {
  partition: number;
  ranges: OffsetRange[];
}

export interface TopicReport {
  topic: string;
  /** Records Kafka acknowledged. */
  sent: number;
  bad: { total: number; byKind: Record<BadKind, number> };
  /** Coordinates of all `sent` records, sorted by partition. */
  partitions: PartitionOffsets[];
}

export type StopReason = 'count' | 'duration' | 'signal' | 'error';

export interface SimulationReport {
  seed: number;
  brokers: string[];
  /** Requested events per second. */
  rate: number;
  startedAt: string;
  elapsedMs: number;
  sent: number;
  bad: number;
  /** Records of a send that failed after retries: they may or may not be in Kafka. Non-zero only after an error. */
  unconfirmed: number;
  stoppedBy?: StopReason;
  topics: Record<TopicRole, TopicReport>;
}

export interface KafkaCoordinate {
  topic: string;
  partition: number;
  offset: bigint;
}

/** The running count behind a report. */
export interface Tally {
  report: Omit<SimulationReport, 'topics' | 'elapsedMs'>;
  /** performance.now() when production started (after connecting and preparing the topics). */
  started: number;
  topics: Record<
    TopicRole,
    { topic: string; sent: number; byKind: Record<BadKind, number>; partitions: Map<number, OffsetRange[]> }
  >;
}

export function createTally(
  meta: { seed: number; brokers: string[]; rate: number },
  topics: Record<TopicRole, string>,
): Tally {
  const perTopic = (role: TopicRole) => ({
    topic: topics[role],
    sent: 0,
    byKind: zeroByKind(),
    partitions: new Map<number, OffsetRange[]>(),
  });
  return {
    report: { ...meta, startedAt: new Date().toISOString(), sent: 0, bad: 0, unconfirmed: 0 },
    started: performance.now(),
    topics: { entry: perTopic('entry'), exit: perTopic('exit'), sensors: perTopic('sensors') },
  };
}

export function countAcknowledged(
  tally: Tally,
  role: TopicRole,
  partition: number,
  offset: bigint,
  bad: BadKind | undefined,
): void {
  const topic = tally.topics[role];
  topic.sent++;
  tally.report.sent++;
  if (bad) {
    topic.byKind[bad]++;
    tally.report.bad++;
  }
  const ranges = topic.partitions.get(partition) ?? [];
  if (ranges.length === 0) topic.partitions.set(partition, ranges);
  const last = ranges[ranges.length - 1];
  if (last && last[1] + 1n === offset) last[1] = offset;
  else ranges.push([offset, offset]);
}

/** Production starts now: elapsed time and rates leave out connecting and creating topics. */
export function startClock(tally: Tally): void {
  tally.started = performance.now();
  tally.report.startedAt = new Date().toISOString();
}

/** A copy of the report as it stands, safe to keep while the run goes on. */
export function snapshot(tally: Tally): SimulationReport {
  const topics = Object.fromEntries(
    TOPIC_ROLES.map((role) => {
      const t = tally.topics[role];
      const bad = Object.values(t.byKind).reduce((sum, n) => sum + n, 0);
      const partitions = [...t.partitions.entries()]
        .sort(([a], [b]) => a - b)
        .map(([partition, ranges]) => ({
          partition,
          ranges: ranges.map(([first, last]): OffsetRange => [first, last]),
        }));
      return [role, { topic: t.topic, sent: t.sent, bad: { total: bad, byKind: { ...t.byKind } }, partitions }];
    }),
  ) as Record<TopicRole, TopicReport>;
  return {
    ...tally.report,
    brokers: [...tally.report.brokers],
    elapsedMs: Math.round(performance.now() - tally.started),
    topics,
  };
}

/** Every acknowledged record's coordinate, expanded from the ranges, in topic/partition/offset order. */
export function acknowledgedCoordinates(report: SimulationReport): KafkaCoordinate[] {
  const coordinates: KafkaCoordinate[] = [];
  for (const role of TOPIC_ROLES) {
    const { topic, partitions } = report.topics[role];
    for (const { partition, ranges } of partitions) {
      for (const [first, last] of ranges)
        for (let offset = first; offset <= last; offset++) coordinates.push({ topic, partition, offset });
    }
  }
  return coordinates;
}

function zeroByKind(): Record<BadKind, number> {
  return Object.fromEntries(BAD_KINDS.map((kind) => [kind, 0])) as Record<BadKind, number>;
}
