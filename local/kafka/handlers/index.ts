/** API key → handler. */
import type { HandlerEntry } from './context.ts';
import {
  apiVersionsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  initProducerIdHandler,
  metadataHandler,
} from './admin.ts';
import { fetchHandler } from './fetch.ts';
import {
  describeGroupsHandler,
  findCoordinatorHandler,
  heartbeatHandler,
  joinGroupHandler,
  leaveGroupHandler,
  listGroupsHandler,
  offsetCommitHandler,
  offsetFetchHandler,
  syncGroupHandler,
} from './groups.ts';
import { listOffsetsHandler } from './list-offsets.ts';
import { produceHandler } from './produce.ts';

const entries: HandlerEntry<any>[] = [
  produceHandler,
  fetchHandler,
  listOffsetsHandler,
  metadataHandler,
  offsetCommitHandler,
  offsetFetchHandler,
  findCoordinatorHandler,
  joinGroupHandler,
  heartbeatHandler,
  leaveGroupHandler,
  syncGroupHandler,
  describeGroupsHandler,
  listGroupsHandler,
  apiVersionsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  initProducerIdHandler,
];

export const handlers: ReadonlyMap<number, HandlerEntry<any>> = new Map(entries.map((e) => [e.api.key, e]));
