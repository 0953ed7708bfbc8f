/**
 * Durable group state: committed offsets and group metadata (generation, protocol, leader, members, assignments),
 * appended as JSON lines to `<data>/groups/groups.log` (like Kafka's __consumer_offsets topic) and compacted into
 * a fresh file on every start. A torn last line (kill -9 mid-write) is ignored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseJson, stringifyJson, toLong } from '../../../shared/util/lossless-json.ts';
import type { FsyncPolicy } from '../log/partition-log.ts';

export interface CommittedOffset {
  offset: bigint;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestamp: number;
}

export interface MemberSnapshot {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: { name: string; metadata: Buffer }[];
  assignment: Buffer;
}

export interface GroupSnapshot {
  groupId: string;
  /** Stable: assignments are known; CompletingRebalance: the generation was formed but not yet synced. */
  state: 'Empty' | 'Stable' | 'CompletingRebalance';
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  members: MemberSnapshot[];
}

/** group → topic → partition → offset */
export type OffsetTable = Map<string, Map<string, Map<number, CommittedOffset>>>;

export interface GroupStore {
  path: string;
  fd: number;
  fsync: FsyncPolicy;
  lines: number;
}

type Line =
  | {
      type: 'offset';
      group: string;
      topic: string;
      partition: number;
      offset: unknown;
      leaderEpoch: number;
      metadata: string | null;
      ts: number;
    }
  | { type: 'offset-delete'; group: string; topic: string; partition: number }
  | ({ type: 'group' } & Omit<GroupSnapshot, 'members'> & {
        members: (Omit<MemberSnapshot, 'protocols' | 'assignment'> & {
          protocols: { name: string; metadata: string }[];
          assignment: string;
        })[];
      });

export function setOffset(
  table: OffsetTable,
  group: string,
  topic: string,
  partition: number,
  value: CommittedOffset,
): void {
  let topics = table.get(group);
  if (!topics) table.set(group, (topics = new Map()));
  let partitions = topics.get(topic);
  if (!partitions) topics.set(topic, (partitions = new Map()));
  partitions.set(partition, value);
}

function groupLine(g: GroupSnapshot): Line {
  return {
    type: 'group',
    ...g,
    members: g.members.map((m) => ({
      ...m,
      protocols: m.protocols.map((p) => ({ name: p.name, metadata: p.metadata.toString('base64') })),
      assignment: m.assignment.toString('base64'),
    })),
  };
}

function offsetLines(table: OffsetTable): Line[] {
  const lines: Line[] = [];
  for (const [group, topics] of table) {
    for (const [topic, partitions] of topics) {
      for (const [partition, o] of partitions)
        lines.push({
          type: 'offset',
          group,
          topic,
          partition,
          offset: o.offset,
          leaderEpoch: o.leaderEpoch,
          metadata: o.metadata,
          ts: o.commitTimestamp,
        });
    }
  }
  return lines;
}

/** Loads the state and rewrites the file compacted. */
export function openGroupStore(
  dataDir: string,
  fsync: FsyncPolicy,
): { store: GroupStore; offsets: OffsetTable; groups: Map<string, GroupSnapshot> } {
  const dir = path.join(dataDir, 'groups');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'groups.log');
  const offsets: OffsetTable = new Map();
  const groups = new Map<string, GroupSnapshot>();
  if (fs.existsSync(file)) {
    for (const text of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!text) continue;
      let line: Line;
      try {
        line = parseJson<Line>(text);
      } catch {
        continue;
      }
      if (line.type === 'offset') {
        setOffset(offsets, line.group, line.topic, line.partition, {
          offset: toLong(line.offset, 'offset'),
          leaderEpoch: line.leaderEpoch,
          metadata: line.metadata,
          commitTimestamp: line.ts,
        });
      } else if (line.type === 'offset-delete') {
        offsets.get(line.group)?.get(line.topic)?.delete(line.partition);
      } else if (line.type === 'group') {
        groups.set(line.groupId, {
          groupId: line.groupId,
          state: line.state,
          generationId: line.generationId,
          protocolType: line.protocolType,
          protocolName: line.protocolName,
          leaderId: line.leaderId,
          members: line.members.map((m) => ({
            ...m,
            protocols: m.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata, 'base64') })),
            assignment: Buffer.from(m.assignment, 'base64'),
          })),
        });
      }
    }
  }
  const compacted = [...offsetLines(offsets), ...[...groups.values()].map(groupLine)];
  const text = compacted.map((l) => `${stringifyJson(l)}\n`).join('');
  fs.writeFileSync(`${file}.tmp`, text);
  if (fsync !== 'never') {
    const fd = fs.openSync(`${file}.tmp`, 'r');
    fs.fdatasyncSync(fd);
    fs.closeSync(fd);
  }
  fs.renameSync(`${file}.tmp`, file);
  const store: GroupStore = { path: file, fd: fs.openSync(file, 'a'), fsync, lines: compacted.length };
  return { store, offsets, groups };
}

function appendLines(store: GroupStore, lines: Line[]): Promise<void> {
  if (lines.length === 0) return Promise.resolve();
  const text = lines.map((l) => `${stringifyJson(l)}\n`).join('');
  fs.writeSync(store.fd, text);
  store.lines += lines.length;
  if (store.fsync !== 'always') return Promise.resolve();
  return new Promise((resolve, reject) => fs.fdatasync(store.fd, (err) => (err ? reject(err) : resolve())));
}

/** Written (to the page cache, and to disk under fsync=always) before the promise settles. */
export function saveOffsets(
  store: GroupStore,
  group: string,
  entries: { topic: string; partition: number; value: CommittedOffset }[],
): Promise<void> {
  return appendLines(
    store,
    entries.map((e) => ({
      type: 'offset',
      group,
      topic: e.topic,
      partition: e.partition,
      offset: e.value.offset,
      leaderEpoch: e.value.leaderEpoch,
      metadata: e.value.metadata,
      ts: e.value.commitTimestamp,
    })),
  );
}

export function deleteOffsets(
  store: GroupStore,
  entries: { group: string; topic: string; partition: number }[],
): Promise<void> {
  return appendLines(
    store,
    entries.map((e) => ({ type: 'offset-delete', ...e })),
  );
}

export function saveGroup(store: GroupStore, snapshot: GroupSnapshot): Promise<void> {
  return appendLines(store, [groupLine(snapshot)]);
}

export function closeGroupStore(store: GroupStore): void {
  if (store.fsync !== 'never') fs.fdatasyncSync(store.fd);
  fs.closeSync(store.fd);
}
