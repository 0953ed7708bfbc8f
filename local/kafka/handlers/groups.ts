/** The group APIs, delegating to the coordinator. */
import { NODE_ID } from '../broker.ts';
import {
  commitOffsets,
  describe,
  fetchOffsets,
  heartbeat as heartbeatMember,
  join,
  leave,
  listGroups as listAllGroups,
  sync,
} from '../groups/coordinator.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { describeGroups } from '../protocol/apis/describe-groups.ts';
import { findCoordinator } from '../protocol/apis/find-coordinator.ts';
import { heartbeat } from '../protocol/apis/heartbeat.ts';
import { joinGroup } from '../protocol/apis/join-group.ts';
import { leaveGroup } from '../protocol/apis/leave-group.ts';
import { listGroups } from '../protocol/apis/list-groups.ts';
import { offsetCommit } from '../protocol/apis/offset-commit.ts';
import { offsetFetch } from '../protocol/apis/offset-fetch.ts';
import { syncGroup } from '../protocol/apis/sync-group.ts';
import { partitionLog } from '../topics.ts';
import { handler } from './context.ts';

const MAX_METADATA = 4096;
const TRANSACTION_KEY = 1;

export const findCoordinatorHandler = handler(findCoordinator, (ctx, req) => {
  const { broker } = ctx;
  if (req.keyType === TRANSACTION_KEY) {
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE,
      errorMessage: 'transactions are not supported',
      nodeId: -1,
      host: '',
      port: -1,
    };
  }
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    errorMessage: null,
    nodeId: NODE_ID,
    host: broker.config.advertisedHost,
    port: broker.port,
  };
});

export const joinGroupHandler = handler(joinGroup, async (ctx, req) => {
  const result = await join(ctx.broker.coordinator, {
    groupId: req.groupId,
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId,
    sessionTimeoutMs: req.sessionTimeoutMs,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    protocolType: req.protocolType,
    protocols: req.protocols,
    clientId: ctx.header.clientId ?? '',
    clientHost: ctx.clientHost,
  });
  return { throttleTimeMs: 0, ...result };
});

export const syncGroupHandler = handler(syncGroup, async (ctx, req) => ({
  throttleTimeMs: 0,
  ...(await sync(ctx.broker.coordinator, {
    groupId: req.groupId,
    generationId: req.generationId,
    memberId: req.memberId,
    assignments: req.assignments,
  })),
}));

export const heartbeatHandler = handler(heartbeat, (ctx, req) => ({
  throttleTimeMs: 0,
  errorCode: heartbeatMember(ctx.broker.coordinator, req.groupId, req.memberId, req.generationId),
}));

export const leaveGroupHandler = handler(leaveGroup, (ctx, req, version) => {
  if (version < 3) {
    const [errorCode] = leave(ctx.broker.coordinator, req.groupId, [req.memberId]);
    return { throttleTimeMs: 0, errorCode };
  }
  const codes = leave(
    ctx.broker.coordinator,
    req.groupId,
    req.members.map((m) => m.memberId),
  );
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    members: req.members.map((m, i) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      errorCode: codes[i],
    })),
  };
});

export const offsetCommitHandler = handler(offsetCommit, async (ctx, req) => {
  const { broker } = ctx;
  const now = Date.now();
  const perPartition = new Map<string, number>();
  const valid: {
    topic: string;
    partition: number;
    value: { offset: bigint; leaderEpoch: number; metadata: string | null; commitTimestamp: number };
  }[] = [];
  for (const t of req.topics) {
    for (const p of t.partitions) {
      const key = `${t.name}\u0000${p.partitionIndex}`;
      if (!partitionLog(broker.topics, t.name, p.partitionIndex))
        perPartition.set(key, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      else if (p.committedMetadata !== null && p.committedMetadata.length > MAX_METADATA)
        perPartition.set(key, ErrorCode.OFFSET_METADATA_TOO_LARGE);
      else
        valid.push({
          topic: t.name,
          partition: p.partitionIndex,
          value: {
            offset: p.committedOffset,
            leaderEpoch: p.committedLeaderEpoch,
            metadata: p.committedMetadata,
            commitTimestamp: now,
          },
        });
    }
  }
  const { errorCode, written } = commitOffsets(broker.coordinator, {
    groupId: req.groupId,
    generationId: req.generationId,
    memberId: req.memberId,
    offsets: valid,
  });
  await written;
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode: perPartition.get(`${t.name}\u0000${p.partitionIndex}`) ?? errorCode,
      })),
    })),
  };
});

export const offsetFetchHandler = handler(offsetFetch, (ctx, req) => {
  const wanted = req.topics === null ? null : req.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes }));
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    topics: fetchOffsets(ctx.broker.coordinator, req.groupId, wanted).map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partition,
        committedOffset: p.committed?.offset ?? -1n,
        committedLeaderEpoch: p.committed?.leaderEpoch ?? -1,
        metadata: p.committed?.metadata ?? '',
        errorCode: ErrorCode.NONE,
      })),
    })),
  };
});

export const describeGroupsHandler = handler(describeGroups, (ctx, req) => ({
  throttleTimeMs: 0,
  groups: req.groups.map((groupId) => {
    const d = describe(ctx.broker.coordinator, groupId);
    return {
      errorCode: ErrorCode.NONE,
      groupId,
      groupState: d.state,
      protocolType: d.protocolType,
      protocolData: d.protocolName,
      members: d.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: m.metadata,
        memberAssignment: m.assignment,
      })),
    };
  }),
}));

export const listGroupsHandler = handler(listGroups, (ctx, req) => {
  const states = req.statesFilter.map((s) => s.toLowerCase());
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    groups: listAllGroups(ctx.broker.coordinator)
      .filter((g) => states.length === 0 || states.includes(g.state.toLowerCase()))
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state })),
  };
});
