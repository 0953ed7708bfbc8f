/** Every API the broker serves, by key. */
import type { ApiDef } from '../api.ts';
import { apiVersions } from './api-versions.ts';
import { createTopics } from './create-topics.ts';
import { deleteTopics } from './delete-topics.ts';
import { describeGroups } from './describe-groups.ts';
import { fetch } from './fetch.ts';
import { findCoordinator } from './find-coordinator.ts';
import { heartbeat } from './heartbeat.ts';
import { initProducerId } from './init-producer-id.ts';
import { joinGroup } from './join-group.ts';
import { leaveGroup } from './leave-group.ts';
import { listGroups } from './list-groups.ts';
import { listOffsets } from './list-offsets.ts';
import { metadata } from './metadata.ts';
import { offsetCommit } from './offset-commit.ts';
import { offsetFetch } from './offset-fetch.ts';
import { produce } from './produce.ts';
import { syncGroup } from './sync-group.ts';

export {
  apiVersions,
  createTopics,
  deleteTopics,
  describeGroups,
  fetch,
  findCoordinator,
  heartbeat,
  initProducerId,
  joinGroup,
  leaveGroup,
  listGroups,
  listOffsets,
  metadata,
  offsetCommit,
  offsetFetch,
  produce,
  syncGroup,
};

export const apis: readonly ApiDef<any, any>[] = [
  produce,
  fetch,
  listOffsets,
  metadata,
  offsetCommit,
  offsetFetch,
  findCoordinator,
  joinGroup,
  heartbeat,
  leaveGroup,
  syncGroup,
  describeGroups,
  listGroups,
  apiVersions,
  createTopics,
  deleteTopics,
  initProducerId,
];

export const apiByKey: ReadonlyMap<number, ApiDef<any, any>> = new Map(apis.map((a) => [a.key, a]));
