/**
 * The group coordinator: Kafka's classic consumer-group protocol as a state machine per group.
 *
 *   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance ──leader sync──▶ Stable
 *                          ▲                                                      │                          │
 *                          └──────────── join of a new member, leave, session timeout ◀──────────────────────┘
 *
 * Every completed join starts a new generation; heartbeats, syncs and offset commits of an older generation are
 * refused (ILLEGAL_GENERATION), which is what keeps two members of one generation from owning the same partition.
 * Offsets and each formed generation are written to the group store before they are acknowledged.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../shared/runtime/logger.ts';
import { ErrorCode } from '../protocol/errors.ts';
import {
  deleteOffsets,
  saveGroup,
  saveOffsets,
  setOffset,
  type CommittedOffset,
  type GroupSnapshot,
  type GroupStore,
  type MemberSnapshot,
  type OffsetTable,
} from './group-store.ts';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export type Protocol = MemberSnapshot['protocols'][number];

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leader: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}

export interface SyncResult {
  errorCode: number;
  assignment: Buffer;
}

/** A live member: what is persisted plus the requests parked on it. */
interface Member extends MemberSnapshot {
  protocolType: string;
  awaitingJoin: ((r: JoinResult) => void) | null;
  awaitingSync: ((r: SyncResult) => void) | null;
  sessionTimer: NodeJS.Timeout | null;
}

interface Group {
  groupId: string;
  state: GroupState;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  members: Map<string, Member>;
  rebalanceTimer: NodeJS.Timeout | null;
  /** The first rebalance of an empty group waits `initialRebalanceDelayMs` for more members. */
  initialDelay: boolean;
}

export interface CoordinatorConfig {
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  initialRebalanceDelayMs: number;
}

export interface Coordinator {
  groups: Map<string, Group>;
  offsets: OffsetTable;
  store: GroupStore;
  config: CoordinatorConfig;
  logger: Logger;
  closed: boolean;
}

const EMPTY = Buffer.alloc(0);

export function createCoordinator(
  store: GroupStore,
  offsets: OffsetTable,
  snapshots: Map<string, GroupSnapshot>,
  config: CoordinatorConfig,
  logger: Logger,
): Coordinator {
  const coord: Coordinator = { groups: new Map(), offsets, store, config, logger, closed: false };
  for (const s of snapshots.values()) restoreGroup(coord, s);
  for (const groupId of offsets.keys()) groupFor(coord, groupId);
  return coord;
}

/** A group loaded after a restart: members keep their ids and generation; those that do not come back expire. */
function restoreGroup(coord: Coordinator, s: GroupSnapshot): void {
  const group = groupFor(coord, s.groupId);
  Object.assign(group, {
    generationId: s.generationId,
    protocolType: s.protocolType,
    protocolName: s.protocolName,
    leaderId: s.leaderId,
  });
  for (const m of s.members) {
    group.members.set(m.memberId, {
      ...m,
      protocolType: s.protocolType ?? '',
      awaitingJoin: null,
      awaitingSync: null,
      sessionTimer: null,
    });
  }
  if (group.members.size === 0) {
    group.state = 'Empty';
  } else if (s.state === 'Stable') {
    group.state = 'Stable';
    for (const m of group.members.values()) touchSession(coord, group, m);
  } else {
    // Formed but never synced: nobody got an assignment, so the members must join again.
    prepareRebalance(coord, group, 'restored a generation that was never synced');
  }
}

function groupFor(coord: Coordinator, groupId: string): Group {
  let group = coord.groups.get(groupId);
  if (!group) {
    group = {
      groupId,
      state: 'Empty',
      generationId: 0,
      protocolType: null,
      protocolName: null,
      leaderId: null,
      members: new Map(),
      rebalanceTimer: null,
      initialDelay: false,
    };
    coord.groups.set(groupId, group);
  }
  return group;
}

function snapshot(group: Group): GroupSnapshot {
  return {
    groupId: group.groupId,
    state:
      group.state === 'Stable' ? 'Stable' : group.state === 'CompletingRebalance' ? 'CompletingRebalance' : 'Empty',
    generationId: group.generationId,
    protocolType: group.protocolType,
    protocolName: group.protocolName,
    leaderId: group.leaderId,
    members: [...group.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      protocols: m.protocols,
      assignment: m.assignment,
    })),
  };
}

function persist(coord: Coordinator, group: Group): void {
  saveGroup(coord.store, snapshot(group)).catch((err) =>
    coord.logger.error({ err, group: group.groupId }, 'could not persist group state'),
  );
}

function clearSession(m: Member): void {
  if (m.sessionTimer) clearTimeout(m.sessionTimer);
  m.sessionTimer = null;
}

function touchSession(coord: Coordinator, group: Group, m: Member): void {
  clearSession(m);
  if (coord.closed) return;
  m.sessionTimer = setTimeout(() => {
    m.sessionTimer = null;
    if (group.members.get(m.memberId) !== m) return;
    coord.logger.info(
      { group: group.groupId, member: m.memberId, sessionTimeoutMs: m.sessionTimeoutMs },
      'group member session expired',
    );
    removeMember(coord, group, m, 'session timeout');
  }, m.sessionTimeoutMs);
  m.sessionTimer.unref?.();
}

function joinError(errorCode: number, memberId = ''): JoinResult {
  return { errorCode, generationId: -1, protocolName: '', leader: '', memberId, members: [] };
}

function sameProtocols(a: Protocol[], b: Protocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i].name && p.metadata.equals(b[i].metadata));
}

export interface JoinRequest {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  clientId: string;
  clientHost: string;
}

export function join(coord: Coordinator, req: JoinRequest): Promise<JoinResult> {
  if (!req.groupId) return Promise.resolve(joinError(ErrorCode.INVALID_GROUP_ID, req.memberId));
  if (
    req.sessionTimeoutMs < coord.config.minSessionTimeoutMs ||
    req.sessionTimeoutMs > coord.config.maxSessionTimeoutMs
  ) {
    return Promise.resolve(joinError(ErrorCode.INVALID_SESSION_TIMEOUT, req.memberId));
  }
  const group = groupFor(coord, req.groupId);
  if (req.protocols.length === 0 || !req.protocolType)
    return Promise.resolve(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.memberId));
  if (group.members.size > 0) {
    const others = [...group.members.values()].filter((m) => m.memberId !== req.memberId);
    const common = req.protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
    if (group.protocolType !== req.protocolType || (others.length > 0 && !common))
      return Promise.resolve(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.memberId));
  }
  const rebalanceTimeoutMs = req.rebalanceTimeoutMs > 0 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs;

  if (!req.memberId) {
    const member: Member = {
      memberId: `${req.clientId || 'member'}-${randomUUID()}`,
      groupInstanceId: req.groupInstanceId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols,
      assignment: EMPTY,
      awaitingJoin: null,
      awaitingSync: null,
      sessionTimer: null,
    };
    group.members.set(member.memberId, member);
    if (group.members.size === 1) group.protocolType = req.protocolType;
    return awaitJoin(coord, group, member, 'new member joined');
  }

  const member = group.members.get(req.memberId);
  if (!member) return Promise.resolve(joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId));
  const changed = !sameProtocols(member.protocols, req.protocols);
  Object.assign(member, {
    sessionTimeoutMs: req.sessionTimeoutMs,
    rebalanceTimeoutMs,
    protocols: req.protocols,
    clientId: req.clientId,
    clientHost: req.clientHost,
  });
  if (
    (group.state === 'Stable' || group.state === 'CompletingRebalance') &&
    !changed &&
    member.memberId !== group.leaderId
  ) {
    // A follower re-sending its join for the current generation gets that generation back.
    touchSession(coord, group, member);
    return Promise.resolve(joinResult(group, member));
  }
  return awaitJoin(coord, group, member, changed ? 'member metadata changed' : 'member rejoined');
}

function awaitJoin(coord: Coordinator, group: Group, member: Member, reason: string): Promise<JoinResult> {
  return new Promise((resolve) => {
    if (member.awaitingJoin) member.awaitingJoin(joinError(ErrorCode.UNKNOWN_MEMBER_ID, member.memberId));
    member.awaitingJoin = resolve;
    clearSession(member);
    if (group.state === 'PreparingRebalance') maybeCompleteJoin(coord, group);
    else prepareRebalance(coord, group, reason);
  });
}

function joinResult(group: Group, member: Member): JoinResult {
  const isLeader = member.memberId === group.leaderId;
  return {
    errorCode: ErrorCode.NONE,
    generationId: group.generationId,
    protocolName: group.protocolName ?? '',
    leader: group.leaderId ?? '',
    memberId: member.memberId,
    members: isLeader
      ? [...group.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          metadata: m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? EMPTY,
        }))
      : [],
  };
}

function prepareRebalance(coord: Coordinator, group: Group, reason: string): void {
  if (group.state === 'CompletingRebalance') {
    for (const m of group.members.values()) {
      m.awaitingSync?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY });
      m.awaitingSync = null;
    }
  }
  const initial = group.state === 'Empty' && coord.config.initialRebalanceDelayMs > 0;
  group.state = 'PreparingRebalance';
  group.initialDelay = initial;
  coord.logger.debug({ group: group.groupId, reason, generation: group.generationId }, 'group rebalancing');
  const delay = initial
    ? coord.config.initialRebalanceDelayMs
    : Math.max(0, ...[...group.members.values()].map((m) => m.rebalanceTimeoutMs));
  if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
  group.rebalanceTimer = coord.closed
    ? null
    : setTimeout(() => {
        group.rebalanceTimer = null;
        group.initialDelay = false;
        completeJoin(coord, group);
      }, delay);
  group.rebalanceTimer?.unref?.();
  maybeCompleteJoin(coord, group);
}

function maybeCompleteJoin(coord: Coordinator, group: Group): void {
  if (group.state !== 'PreparingRebalance' || group.initialDelay) return;
  for (const m of group.members.values()) if (!m.awaitingJoin) return;
  completeJoin(coord, group);
}

function selectProtocol(members: Member[]): string {
  const candidates = members[0].protocols
    .map((p) => p.name)
    .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
  const votes = new Map<string, number>();
  for (const m of members) {
    const choice = m.protocols.find((p) => candidates.includes(p.name))?.name;
    if (choice) votes.set(choice, (votes.get(choice) ?? 0) + 1);
  }
  let best = candidates[0];
  for (const c of candidates) if ((votes.get(c) ?? 0) > (votes.get(best) ?? 0)) best = c;
  return best;
}

function completeJoin(coord: Coordinator, group: Group): void {
  if (group.state !== 'PreparingRebalance') return;
  if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
  group.rebalanceTimer = null;
  for (const m of [...group.members.values()]) {
    if (!m.awaitingJoin) {
      coord.logger.info({ group: group.groupId, member: m.memberId }, 'group member did not rejoin in time; removed');
      clearSession(m);
      group.members.delete(m.memberId);
    }
  }
  group.generationId++;
  if (group.members.size === 0) {
    Object.assign(group, { state: 'Empty', protocolName: null, leaderId: null });
    persist(coord, group);
    return;
  }
  const members = [...group.members.values()];
  group.protocolType = members[0].protocolType;
  group.protocolName = selectProtocol(members);
  if (!group.leaderId || !group.members.has(group.leaderId)) group.leaderId = members[0].memberId;
  group.state = 'CompletingRebalance';
  coord.logger.info(
    {
      group: group.groupId,
      generation: group.generationId,
      members: members.map((m) => m.memberId),
      protocol: group.protocolName,
    },
    'group generation formed',
  );
  persist(coord, group);
  for (const m of members) {
    const respond = m.awaitingJoin!;
    m.awaitingJoin = null;
    touchSession(coord, group, m);
    respond(joinResult(group, m));
  }
}

function removeMember(coord: Coordinator, group: Group, m: Member, reason: string): void {
  clearSession(m);
  group.members.delete(m.memberId);
  m.awaitingJoin?.(joinError(ErrorCode.UNKNOWN_MEMBER_ID, m.memberId));
  m.awaitingSync?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY });
  m.awaitingJoin = null;
  m.awaitingSync = null;
  if (group.state === 'Stable' || group.state === 'CompletingRebalance') prepareRebalance(coord, group, reason);
  else maybeCompleteJoin(coord, group);
}

export interface SyncRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  assignments: { memberId: string; assignment: Buffer }[];
}

export function sync(coord: Coordinator, req: SyncRequest): Promise<SyncResult> {
  const group = coord.groups.get(req.groupId);
  const member = group?.members.get(req.memberId);
  if (!group || !member) return Promise.resolve({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY });
  if (req.generationId !== group.generationId)
    return Promise.resolve({ errorCode: ErrorCode.ILLEGAL_GENERATION, assignment: EMPTY });
  if (group.state === 'PreparingRebalance')
    return Promise.resolve({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY });
  if (group.state === 'Stable') {
    touchSession(coord, group, member);
    return Promise.resolve({ errorCode: ErrorCode.NONE, assignment: member.assignment });
  }
  return new Promise((resolve) => {
    member.awaitingSync = resolve;
    touchSession(coord, group, member);
    if (member.memberId !== group.leaderId) return;
    const given = new Map(req.assignments.map((a) => [a.memberId, a.assignment]));
    for (const m of group.members.values()) m.assignment = given.get(m.memberId) ?? EMPTY;
    group.state = 'Stable';
    persist(coord, group);
    for (const m of group.members.values()) {
      m.awaitingSync?.({ errorCode: ErrorCode.NONE, assignment: m.assignment });
      m.awaitingSync = null;
    }
  });
}

export function heartbeat(coord: Coordinator, groupId: string, memberId: string, generationId: number): number {
  const group = coord.groups.get(groupId);
  const member = group?.members.get(memberId);
  if (!group || !member) return ErrorCode.UNKNOWN_MEMBER_ID;
  if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
  if (member.awaitingJoin) return ErrorCode.REBALANCE_IN_PROGRESS;
  touchSession(coord, group, member);
  return group.state === 'PreparingRebalance' ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
}

export function leave(coord: Coordinator, groupId: string, memberIds: string[]): number[] {
  const group = coord.groups.get(groupId);
  return memberIds.map((memberId) => {
    const member = group?.members.get(memberId);
    if (!group || !member) return ErrorCode.UNKNOWN_MEMBER_ID;
    coord.logger.info({ group: groupId, member: memberId }, 'group member left');
    removeMember(coord, group, member, 'member left');
    return ErrorCode.NONE;
  });
}

export interface OffsetCommitRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  offsets: { topic: string; partition: number; value: CommittedOffset }[];
}

/** Checks the committer's membership; returns the error for every partition, or NONE and the write to wait for. */
export function commitOffsets(
  coord: Coordinator,
  req: OffsetCommitRequest,
): { errorCode: number; written: Promise<void> } {
  const refuse = (errorCode: number) => ({ errorCode, written: Promise.resolve() });
  if (!req.groupId) return refuse(ErrorCode.INVALID_GROUP_ID);
  const existing = coord.groups.get(req.groupId);
  if (req.generationId < 0 && (!existing || existing.state === 'Empty')) {
    // A consumer outside any group (kcat, admin tools) committing for a group with no active members.
  } else if (!existing) {
    return refuse(ErrorCode.ILLEGAL_GENERATION);
  } else if (existing.state === 'CompletingRebalance') {
    return refuse(ErrorCode.REBALANCE_IN_PROGRESS);
  } else if (!existing.members.has(req.memberId)) {
    return refuse(ErrorCode.UNKNOWN_MEMBER_ID);
  } else if (req.generationId !== existing.generationId) {
    return refuse(ErrorCode.ILLEGAL_GENERATION);
  } else {
    touchSession(coord, existing, existing.members.get(req.memberId)!);
  }
  groupFor(coord, req.groupId);
  for (const o of req.offsets) setOffset(coord.offsets, req.groupId, o.topic, o.partition, o.value);
  return { errorCode: ErrorCode.NONE, written: saveOffsets(coord.store, req.groupId, req.offsets) };
}

/** Committed offsets; `topics` null means every partition the group has committed. */
export function fetchOffsets(
  coord: Coordinator,
  groupId: string,
  topics: { name: string; partitions: number[] }[] | null,
): { name: string; partitions: { partition: number; committed: CommittedOffset | null }[] }[] {
  const table = coord.offsets.get(groupId);
  if (topics === null) {
    return [...(table ?? new Map<string, Map<number, CommittedOffset>>())].map(([name, partitions]) => ({
      name,
      partitions: [...partitions].map(([partition, committed]) => ({ partition, committed })),
    }));
  }
  return topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((partition) => ({ partition, committed: table?.get(t.name)?.get(partition) ?? null })),
  }));
}

/** Forgets committed offsets of a deleted topic. */
export function forgetTopic(coord: Coordinator, topic: string): Promise<void> {
  const deleted: { group: string; topic: string; partition: number }[] = [];
  for (const [group, topics] of coord.offsets) {
    for (const partition of topics.get(topic)?.keys() ?? []) deleted.push({ group, topic, partition });
    topics.delete(topic);
  }
  return deleteOffsets(coord.store, deleted);
}

export interface GroupDescription {
  groupId: string;
  state: GroupState;
  protocolType: string;
  protocolName: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    metadata: Buffer;
    assignment: Buffer;
  }[];
}

export function describe(coord: Coordinator, groupId: string): GroupDescription {
  const group = coord.groups.get(groupId);
  if (!group) return { groupId, state: 'Dead', protocolType: '', protocolName: '', members: [] };
  return {
    groupId,
    state: group.state,
    protocolType: group.protocolType ?? '',
    protocolName: group.state === 'Stable' ? (group.protocolName ?? '') : '',
    members: [...group.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      metadata: m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? EMPTY,
      assignment: group.state === 'Stable' ? m.assignment : EMPTY,
    })),
  };
}

export function listGroups(coord: Coordinator): { groupId: string; protocolType: string; state: GroupState }[] {
  return [...coord.groups.values()].map((g) => ({
    groupId: g.groupId,
    protocolType: g.protocolType ?? '',
    state: g.state,
  }));
}

/** Stops every timer and answers every parked request; members keep their state on disk for the next start. */
export function closeCoordinator(coord: Coordinator): void {
  coord.closed = true;
  for (const group of coord.groups.values()) {
    if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
    group.rebalanceTimer = null;
    for (const m of group.members.values()) {
      clearSession(m);
      m.awaitingJoin?.(joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, m.memberId));
      m.awaitingSync?.({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, assignment: EMPTY });
      m.awaitingJoin = null;
      m.awaitingSync = null;
    }
  }
}
