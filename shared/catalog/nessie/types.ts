/**
 * The Nessie REST API v2 model (JSON shapes of the `Views.V2` view), shared by the client and the embedded server.
 * 64-bit fields (`snapshotId`, `versionId`) are `bigint` here and travel as bare JSON numbers (see `shared/util/lossless-json.ts`).
 */

export interface ContentKey {
  elements: string[];
}

export type ReferenceType = 'BRANCH' | 'TAG';

export interface NamedReference {
  type: ReferenceType;
  name: string;
  hash: string;
  metadata?: ReferenceMetadata;
}

export interface DetachedReference {
  type: 'DETACHED';
  hash: string;
}

export type Reference = NamedReference | DetachedReference;

export interface ReferenceMetadata {
  numCommitsAhead?: number | null;
  numCommitsBehind?: number | null;
  commitMetaOfHEAD?: CommitMeta;
  commonAncestorHash?: string | null;
  numTotalCommits?: number | null;
}

export interface IcebergTable {
  type: 'ICEBERG_TABLE';
  /** Nessie content id: omitted when creating, mandatory (and unchanged) on every update. */
  id?: string;
  metadataLocation: string;
  /** The metadata's `current-snapshot-id`, -1 when the table has no snapshot. */
  snapshotId: bigint;
  schemaId: number;
  specId: number;
  sortOrderId: number;
}

export interface IcebergView {
  type: 'ICEBERG_VIEW';
  id?: string;
  metadataLocation: string;
  versionId: bigint;
  schemaId: number;
  sqlText?: string;
  dialect?: string;
}

export interface Namespace {
  type: 'NAMESPACE';
  id?: string;
  elements: string[];
  properties: Record<string, string>;
}

export type Content = IcebergTable | IcebergView | Namespace;
export type ContentType = Content['type'];

/** Commit metadata as the server reports it. */
export interface CommitMeta {
  hash?: string;
  committer?: string;
  authors: string[];
  allSignedOffBy: string[];
  message: string;
  commitTime?: string;
  authorTime?: string;
  allProperties: Record<string, string[]>;
  parentCommitHashes: string[];
}

/** Commit metadata a client sends; the server sets committer, times and hashes. */
export interface CommitMetaInput {
  message: string;
  authors?: string[];
  allSignedOffBy?: string[];
  /** Single values are sent as one-element lists. */
  properties?: Record<string, string | string[]>;
  authorTime?: string;
}

export type Operation =
  | { type: 'PUT'; key: ContentKey; content: Content }
  | { type: 'DELETE'; key: ContentKey }
  /** Fails the commit if the key changed since the expected hash (a read-set guard); not persisted. */
  | { type: 'UNCHANGED'; key: ContentKey };

export interface AddedContent {
  key: ContentKey;
  contentId: string;
}

export interface CommitResponse {
  targetBranch: NamedReference;
  addedContents: AddedContent[];
}

export type MergeBehavior = 'NORMAL' | 'FORCE' | 'DROP';

export interface MergeKeyBehavior {
  key: ContentKey;
  mergeBehavior: MergeBehavior;
  /** NORMAL only: the target's current value must equal this, else a conflict. */
  expectedTargetContent?: Content;
  /** NORMAL only (with expectedTargetContent): written instead of the source value. */
  resolvedContent?: Content;
}

export const CONFLICT_TYPES = [
  'UNKNOWN',
  'KEY_EXISTS',
  'KEY_DOES_NOT_EXIST',
  'PAYLOAD_DIFFERS',
  'CONTENT_ID_DIFFERS',
  'VALUE_DIFFERS',
  'NAMESPACE_ABSENT',
  'NOT_A_NAMESPACE',
  'NAMESPACE_NOT_EMPTY',
  'UNEXPECTED_HASH',
  'KEY_CONFLICT',
  'DOCUMENTATION_DIFFERS',
] as const;
/** Servers may add conflict types; unknown ones arrive as `UNKNOWN`. */
export type ConflictType = (typeof CONFLICT_TYPES)[number];

export interface Conflict {
  conflictType: ConflictType;
  key?: ContentKey;
  message: string;
}

export interface MergeKeyDetails {
  key: ContentKey;
  mergeBehavior: MergeBehavior;
  conflict?: Conflict;
}

export interface MergeResponse {
  wasApplied: boolean;
  wasSuccessful: boolean;
  resultantTargetHash: string | null;
  /** Really the merge base (null for transplants). */
  commonAncestor: string | null;
  targetBranch: string;
  effectiveTargetHash: string;
  expectedHash: string | null;
  details: MergeKeyDetails[];
}

export interface LogEntry {
  commitMeta: CommitMeta;
  parentCommitHash?: string;
  /** Only with `fetch: 'ALL'`. */
  operations?: Operation[];
}

export interface Entry {
  /** Content type name; may be one this model does not know (then `content` is left out). */
  type: string;
  name: ContentKey;
  contentId?: string;
  content?: Content;
}

export interface DiffEntry {
  key: ContentKey;
  from?: Content;
  to?: Content;
}

export interface NessieConfiguration {
  defaultBranch: string;
  minSupportedApiVersion: number;
  maxSupportedApiVersion: number;
  actualApiVersion?: number;
  specVersion?: string;
  noAncestorHash?: string;
  repositoryCreationTimestamp?: string;
  oldestPossibleCommitTimestamp?: string;
  additionalProperties?: Record<string, string>;
}

export type FetchOption = 'MINIMAL' | 'ALL';

/** `{ elements }` from key elements: `contentKey('sales', 'orders')`. */
export function contentKey(...elements: string[]): ContentKey {
  return { elements };
}

/** The dotted form Nessie uses in messages (`sales.orders`), like Java's `ContentKey.toString()`. */
export function keyToString(key: ContentKey): string {
  return key.elements.join('.');
}

/** Nessie's key order: element by element (UTF-16 code units, like Java), then shorter first. */
export function compareKeys(a: ContentKey, b: ContentKey): number {
  const n = Math.min(a.elements.length, b.elements.length);
  for (let i = 0; i < n; i++) {
    const x = a.elements[i];
    const y = b.elements[i];
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.elements.length - b.elements.length;
}
