/**
 * The read endpoints over a repository state. Reads never scan history beyond what they return: contents come from
 * the commit's own index, logs walk only the pages asked for.
 */
import { NessieBadRequestError, NessieNotFoundError } from '../../shared/catalog/nessie/errors.ts';
import { keyFromPathString, keyToPathString, NO_ANCESTOR_HASH } from '../../shared/catalog/nessie/paths.ts';
import {
  compareKeys,
  keyToString,
  type CommitMeta,
  type ContentKey,
  type DiffEntry,
  type Entry,
  type LogEntry,
  type NamedReference,
  type NessieConfiguration,
  type Operation,
  type Reference,
  type ReferenceMetadata,
} from '../../shared/catalog/nessie/types.ts';
import { CelError, compileCel, type CelValue } from './cel.ts';
import {
  diffIndexes,
  firstParent,
  keyId,
  mergeBase,
  type CommitNode,
  type IndexEntry,
  type Repository,
} from './repository.ts';
import { effectiveReference, parseRef, resolveRef } from './resolve.ts';
import { validateKey } from './writes.ts';

/** Nessie caps a page of commit log entries at 250 (TreeService.MAX_COMMIT_LOG_ENTRIES). */
const MAX_LOG_PAGE = 250;

export interface Paging {
  maxRecords?: number;
  pageToken?: string;
}

export function config(repo: Repository): NessieConfiguration {
  return {
    defaultBranch: repo.defaultBranch,
    minSupportedApiVersion: 1,
    maxSupportedApiVersion: 2,
    actualApiVersion: 2,
    specVersion: '2.2.0',
    noAncestorHash: NO_ANCESTOR_HASH,
    repositoryCreationTimestamp: repo.createdAt,
    oldestPossibleCommitTimestamp: repo.createdAt,
    additionalProperties: {},
  };
}

function filterFn(
  filter: string | undefined,
  variables: string[],
): ((scope: Record<string, CelValue>) => boolean) | undefined {
  if (!filter) return undefined;
  try {
    const predicate = compileCel(filter, variables);
    return (scope) => {
      try {
        return predicate(scope);
      } catch (err) {
        throw new NessieBadRequestError(`Failed to evaluate filter '${filter}': ${(err as Error).message}`);
      }
    };
  } catch (err) {
    if (err instanceof CelError)
      throw new NessieBadRequestError(`Unsupported or invalid filter '${filter}': ${err.message}`);
    throw err;
  }
}

export function commitMetaOf(node: CommitNode): CommitMeta {
  return { hash: node.hash, ...node.meta, parentCommitHashes: [...node.parents] };
}

function celCommit(meta: CommitMeta | undefined): CelValue {
  const m = meta ?? { authors: [], allSignedOffBy: [], message: '', allProperties: {}, parentCommitHashes: [] };
  return {
    hash: m.hash ?? '',
    committer: m.committer ?? '',
    author: m.authors[0] ?? '',
    authors: m.authors,
    signedOffBy: m.allSignedOffBy[0] ?? '',
    allSignedOffBy: m.allSignedOffBy,
    message: m.message,
    commitTime: m.commitTime ?? '',
    authorTime: m.authorTime ?? '',
    properties: Object.fromEntries(Object.entries(m.allProperties).map(([k, v]) => [k, v[0] ?? ''])),
    allProperties: m.allProperties,
    parentCommitHashes: m.parentCommitHashes,
  };
}

function referenceMetadata(repo: Repository, head: CommitNode): ReferenceMetadata {
  const main = repo.commits.get(repo.refs.get(repo.defaultBranch)?.hash ?? NO_ANCESTOR_HASH)!;
  const base = mergeBase(repo, head, main);
  const metadata: ReferenceMetadata = {
    numCommitsAhead: Math.max(0, head.depth - base.depth),
    numCommitsBehind: Math.max(0, main.depth - base.depth),
    commonAncestorHash: base.hash,
    numTotalCommits: head.depth,
  };
  if (head.parents.length) metadata.commitMetaOfHEAD = commitMetaOf(head);
  return metadata;
}

function namedReference(repo: Repository, name: string, fetchAll: boolean): NamedReference {
  const ref = repo.refs.get(name)!;
  const reference: NamedReference = { type: ref.type, name, hash: ref.hash };
  if (fetchAll) reference.metadata = referenceMetadata(repo, repo.commits.get(ref.hash)!);
  return reference;
}

export function getReference(
  repo: Repository,
  refPath: string,
  fetch: string | undefined,
): { reference: NamedReference } {
  const parsed = parseRef(refPath);
  if (parsed.hash || parsed.relative.length || !parsed.name)
    throw new NessieBadRequestError('Hashes are not allowed when fetching a reference by name');
  const name = parsed.name === '-' ? repo.defaultBranch : parsed.name;
  if (!repo.refs.has(name)) throw new NessieNotFoundError('REFERENCE_NOT_FOUND', `Named reference '${name}' not found`);
  return { reference: namedReference(repo, name, fetch === 'ALL') };
}

/** Pages a list sorted by `sortKey`; the (opaque) token encodes the sort key of the first item not returned. */
function page<T>(
  items: T[],
  sortKey: (item: T) => string,
  paging: Paging,
): { items: T[]; hasMore: boolean; token: string | null } {
  const after =
    paging.pageToken === undefined ? undefined : Buffer.from(paging.pageToken, 'base64url').toString('utf8');
  const start = after === undefined ? 0 : items.findIndex((item) => sortKey(item) >= after);
  const from = start < 0 ? items.length : start;
  const size = paging.maxRecords && paging.maxRecords > 0 ? paging.maxRecords : Infinity;
  const slice = items.slice(from, from + size);
  const hasMore = from + slice.length < items.length;
  return {
    items: slice,
    hasMore,
    token: hasMore ? Buffer.from(sortKey(items[from + slice.length]), 'utf8').toString('base64url') : null,
  };
}

export function listReferences(
  repo: Repository,
  options: Paging & { fetch?: string; filter?: string },
): { references: NamedReference[]; hasMore: boolean; token: string | null } {
  const fetchAll = options.fetch === 'ALL';
  const predicate = filterFn(options.filter, ['ref', 'refType', 'commit', 'refMeta']);
  const names = [...repo.refs.keys()].sort();
  let references = names.map((name) => namedReference(repo, name, fetchAll));
  if (predicate) {
    references = references.filter((ref) => {
      const metadata = ref.metadata ?? {};
      return predicate({
        ref: { name: ref.name, hash: ref.hash, type: ref.type },
        refType: ref.type,
        commit: celCommit(metadata.commitMetaOfHEAD),
        refMeta: {
          numCommitsAhead: metadata.numCommitsAhead ?? 0,
          numCommitsBehind: metadata.numCommitsBehind ?? 0,
          numTotalCommits: metadata.numTotalCommits ?? 0,
          commonAncestorHash: metadata.commonAncestorHash ?? '',
        },
      });
    });
  }
  const result = page(references, (r) => r.name, options);
  return { references: result.items, hasMore: result.hasMore, token: result.token };
}

export function getContent(
  repo: Repository,
  refPath: string,
  key: ContentKey,
): { content: IndexEntry['content']; effectiveReference: Reference } {
  validateKey(key);
  const resolved = resolveRef(repo, refPath);
  const entry = resolved.commit.index.get(keyId(key));
  if (!entry) {
    throw new NessieNotFoundError(
      'CONTENT_NOT_FOUND',
      `Could not find content for key '${keyToString(key)}' in reference '${resolved.name ?? 'DETACHED'}'.`,
      { type: 'CONTENT_KEY', contentKey: key },
    );
  }
  return { content: entry.content, effectiveReference: effectiveReference(resolved) };
}

export function getContents(
  repo: Repository,
  refPath: string,
  keys: ContentKey[],
): { contents: Array<{ key: ContentKey; content: IndexEntry['content'] }>; effectiveReference: Reference } {
  keys.forEach(validateKey);
  const resolved = resolveRef(repo, refPath);
  const contents: Array<{ key: ContentKey; content: IndexEntry['content'] }> = [];
  for (const key of keys) {
    const entry = resolved.commit.index.get(keyId(key));
    if (entry) contents.push({ key: entry.key, content: entry.content });
  }
  return { contents, effectiveReference: effectiveReference(resolved) };
}

export function parseKeyParam(text: string, what: string): ContentKey {
  let elements: string[];
  try {
    elements = keyFromPathString(text);
  } catch (err) {
    throw new NessieBadRequestError(`Invalid ${what} '${text}': ${(err as Error).message}`);
  }
  const key = { elements };
  validateKey(key);
  return key;
}

export interface KeyRestrictions {
  keys?: ContentKey[];
  minKey?: ContentKey;
  maxKey?: ContentKey;
  prefixKey?: ContentKey;
}

function keyMatcher(r: KeyRestrictions): (key: ContentKey) => boolean {
  if (r.prefixKey && (r.minKey || r.maxKey))
    throw new NessieBadRequestError('Combining prefixKey with either minKey or maxKey is not supported.');
  const wanted = r.keys?.length ? new Set(r.keys.map(keyId)) : undefined;
  return (key) => {
    if (wanted && !wanted.has(keyId(key))) return false;
    if (r.minKey && compareKeys(key, r.minKey) < 0) return false;
    if (r.maxKey && compareKeys(key, r.maxKey) > 0) return false;
    if (
      r.prefixKey &&
      !(
        key.elements.length >= r.prefixKey.elements.length &&
        r.prefixKey.elements.every((e, i) => key.elements[i] === e)
      )
    )
      return false;
    return true;
  };
}

function celKeyFields(key: ContentKey): Record<string, CelValue> {
  const namespace = key.elements.slice(0, -1);
  return {
    keyElements: key.elements,
    key: keyToString(key),
    encodedKey: keyToPathString(key.elements),
    namespaceElements: namespace,
    namespace: keyToPathString(namespace),
    name: key.elements[key.elements.length - 1],
  };
}

function sortedEntries(node: CommitNode): IndexEntry[] {
  return [...node.index.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
}

export function entries(
  repo: Repository,
  refPath: string,
  options: Paging & KeyRestrictions & { filter?: string; content?: boolean },
): { entries: Entry[]; effectiveReference: Reference; hasMore: boolean; token: string | null } {
  const resolved = resolveRef(repo, refPath);
  const matches = keyMatcher(options);
  const predicate = filterFn(options.filter, ['entry']);
  const selected = sortedEntries(resolved.commit).filter(
    (entry) =>
      matches(entry.key) &&
      (!predicate || predicate({ entry: { ...celKeyFields(entry.key), contentType: entry.content.type } })),
  );
  const result = page(selected, (entry) => keyId(entry.key), options);
  return {
    entries: result.items.map((entry) => ({
      type: entry.content.type,
      name: entry.key,
      contentId: entry.content.id,
      ...(options.content ? { content: entry.content } : {}),
    })),
    effectiveReference: effectiveReference(resolved),
    hasMore: result.hasMore,
    token: result.token,
  };
}

function logOperations(node: CommitNode): Operation[] {
  return node.ops.map((op) =>
    op.content ? { type: 'PUT', key: op.key, content: op.content } : { type: 'DELETE', key: op.key },
  );
}

export function commitLog(
  repo: Repository,
  refPath: string,
  options: Paging & { limitHash?: string; fetch?: string; filter?: string },
): { logEntries: LogEntry[]; hasMore: boolean; token: string | null } {
  const resolved = resolveRef(repo, options.pageToken ? `${refName(refPath)}@${options.pageToken}` : refPath);
  const fetchAll = options.fetch === 'ALL';
  const predicate = filterFn(options.filter, ['commit', 'operations']);
  const limit = Math.min(
    options.maxRecords && options.maxRecords > 0 ? options.maxRecords : MAX_LOG_PAGE,
    MAX_LOG_PAGE,
  );
  const stopAt = options.limitHash
    ? resolveRef(repo, `${refName(refPath)}@${options.limitHash}`).commit.hash
    : undefined;
  const logEntries: LogEntry[] = [];
  let node: CommitNode | undefined = resolved.commit;
  while (node && node.parents.length) {
    if (logEntries.length >= limit) return { logEntries, hasMore: true, token: node.hash };
    const meta = commitMetaOf(node);
    const operations = fetchAll ? logOperations(node) : undefined;
    const celOperations = (): CelValue =>
      logOperations(node!).map((op) => ({
        ...celKeyFields(op.key),
        type: op.type,
        ...(op.type === 'PUT' ? { content: { type: op.content.type, id: op.content.id ?? '' } } : {}),
      }));
    if (!predicate || predicate({ commit: celCommit(meta), operations: celOperations() })) {
      logEntries.push({ commitMeta: meta, parentCommitHash: node.parents[0], ...(operations ? { operations } : {}) });
    }
    if (node.hash === stopAt) break;
    node = firstParent(repo, node);
  }
  return { logEntries, hasMore: false, token: null };
}

/** The name part of a reference path element (to re-anchor a page token or limit hash on it). */
function refName(refPath: string): string {
  const parsed = parseRef(refPath);
  return parsed.name ?? '';
}

export function diff(
  repo: Repository,
  fromPath: string,
  toPath: string,
  options: Paging & KeyRestrictions & { filter?: string },
): {
  diffs: DiffEntry[];
  effectiveFromReference: Reference;
  effectiveToReference: Reference;
  hasMore: boolean;
  token: string | null;
} {
  const from = resolveRef(repo, fromPath);
  const to = resolveRef(repo, toPath);
  const matches = keyMatcher(options);
  const predicate = filterFn(options.filter, ['key']);
  const changed = diffIndexes(from.commit.index, to.commit.index)
    .map((d) => ({ key: (d.to ?? d.from)!.key, from: d.from?.content, to: d.to?.content }))
    .filter((d) => matches(d.key) && (!predicate || predicate({ key: celKeyFields(d.key) })));
  const result = page(changed, (d) => keyId(d.key), options);
  return {
    diffs: result.items.map((d) => ({
      key: d.key,
      ...(d.from ? { from: d.from } : {}),
      ...(d.to ? { to: d.to } : {}),
    })),
    effectiveFromReference: effectiveReference(from),
    effectiveToReference: effectiveReference(to),
    hasMore: result.hasMore,
    token: result.token,
  };
}
