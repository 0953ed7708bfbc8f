/** The Nessie REST v2 client and model: `createNessieClient({ uri })`. */
export * from './types.ts';
export * from './errors.ts';
export * from './paths.ts';
export { decodeContent, canonicalContent, contentKeyProblem } from './content-schema.ts';
export { createNessieClient } from './client.ts';
export type {
  NessieClient,
  NessieClientOptions,
  ContentAtRef,
  EntriesOptions,
  MergeRequest,
  TransplantRequest,
  CommitLogOptions,
} from './client.ts';
