/**
 * The in-memory Nessie repository: a commit DAG with one persistent key→content index per commit, and the named
 * references. Pure logic, no I/O: a write computes a `Mutation` (new commits + reference moves), which the durable
 * store logs and then applies with `applyMutation` — the same function that replays the log on start.
 *
 * Semantics follow Nessie's version store (see reference/nessie/API.md and, upstream, `CommitImpl`,
 * `CommitLogicImpl.checkForConflict`, `MergeSquashImpl`, `TransplantIndividualImpl`, `BaseCommitHelper`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { Map as ImmutableMap } from 'immutable';
import { canonicalContent } from '../../shared/catalog/nessie/content-schema.ts';
import { NO_ANCESTOR_HASH } from '../../shared/catalog/nessie/paths.ts';
import { NessieReferenceConflictError } from '../../shared/catalog/nessie/errors.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import {
  keyToString,
  type CommitMeta,
  type Conflict,
  type ConflictType,
  type Content,
  type ContentKey,
  type ReferenceType,
} from '../../shared/catalog/nessie/types.ts';

/** A key as an index key: elements joined with NUL, which sorts exactly like Nessie's element-wise key order. */
export type KeyId = string;

export function keyId(key: ContentKey): KeyId {
  return key.elements.join('\u0000');
}

export interface IndexEntry {
  key: ContentKey;
  content: Content;
  /** Canonical serialization of `content`: equal values, equal text (Nessie compares content value object ids). */
  value: string;
}

export type KeyIndex = ImmutableMap<KeyId, IndexEntry>;

/** One change of a commit; no `content` means the key was deleted. */
export interface CommitOp {
  key: ContentKey;
  content?: Content;
}

export type StoredCommitMeta = Omit<CommitMeta, 'hash' | 'parentCommitHashes'>;

/** A commit as it is logged. */
export interface CommitRecord {
  hash: string;
  parents: string[];
  meta: StoredCommitMeta;
  ops: CommitOp[];
}

export interface CommitNode extends CommitRecord {
  /** Longest distance from the root + 1 over all parents: every ancestor has a smaller generation. */
  generation: number;
  /** Commits on the first-parent chain including this one (Nessie's commit `seq`, "numTotalCommits"). */
  depth: number;
  createdMs: number;
  index: KeyIndex;
}

export interface RefEntry {
  type: ReferenceType;
  hash: string;
}

export interface RefChange {
  name: string;
  type: ReferenceType;
  /** null deletes the reference. */
  hash: string | null;
}

/** What one write changes; logged as one record, applied atomically. */
export interface Mutation {
  commits: CommitRecord[];
  refs: RefChange[];
}

export interface Repository {
  commits: Map<string, CommitNode>;
  refs: ImmutableMap<string, RefEntry>;
  defaultBranch: string;
  createdAt: string;
}

export function emptyRepository(defaultBranch: string, createdAt: string): Repository {
  const root: CommitNode = {
    hash: NO_ANCESTOR_HASH,
    parents: [],
    generation: 0,
    depth: 0,
    createdMs: -Infinity,
    index: ImmutableMap(),
    ops: [],
    meta: { committer: '', authors: [], allSignedOffBy: [], message: '', allProperties: {} },
  };
  return {
    commits: new Map([[NO_ANCESTOR_HASH, root]]),
    refs: ImmutableMap<string, RefEntry>().set(defaultBranch, { type: 'BRANCH', hash: NO_ANCESTOR_HASH }),
    defaultBranch,
    createdAt,
  };
}

export function indexEntry(key: ContentKey, content: Content): IndexEntry {
  const canonical = canonicalContent(content);
  return { key: { elements: [...key.elements] }, content: canonical, value: stringifyJson(canonical) };
}

export function applyOps(index: KeyIndex, ops: CommitOp[]): KeyIndex {
  return index.withMutations((m) => {
    for (const op of ops) {
      if (op.content) m.set(keyId(op.key), indexEntry(op.key, op.content));
      else m.delete(keyId(op.key));
    }
  });
}

/** Adds a logged mutation to the repository (used both live and on replay). */
export function applyMutation(repo: Repository, mutation: Mutation): void {
  for (const record of mutation.commits) {
    if (repo.commits.has(record.hash)) continue;
    const parents = record.parents.map((hash) => {
      const parent = repo.commits.get(hash);
      if (!parent) throw new Error(`commit ${record.hash} refers to unknown parent ${hash}`);
      return parent;
    });
    const first = parents[0];
    repo.commits.set(record.hash, {
      ...record,
      generation: Math.max(...parents.map((p) => p.generation)) + 1,
      depth: first.depth + 1,
      createdMs: Date.parse(record.meta.commitTime ?? '') || 0,
      index: applyOps(first.index, record.ops),
    });
  }
  let refs = repo.refs;
  for (const change of mutation.refs)
    refs =
      change.hash === null ? refs.delete(change.name) : refs.set(change.name, { type: change.type, hash: change.hash });
  repo.refs = refs;
}

/**
 * A new commit's hash: its parents and a random nonce, hashed. Nothing ever recomputes a hash from a commit's content,
 * and the nonce (which two otherwise identical commits need to stay apart) made a content hash unreproducible anyway,
 * so serializing and hashing the meta and operations, a noticeable share of a commit's CPU, bought nothing.
 */
export function commitHash(parents: readonly string[]): string {
  const hash = createHash('sha256');
  for (const parent of parents) hash.update(parent);
  return hash.update(randomUUID()).digest('hex');
}

// ---- conflicts --------------------------------------------------------------------------------------------------

export function conflict(conflictType: ConflictType, key: ContentKey | undefined, message: string): Conflict {
  return key ? { conflictType, key, message } : { conflictType, message };
}

/** Nessie's `ReferenceConflictException` message: one conflict capitalized, several listed. */
export function conflictError(conflicts: Conflict[]): NessieReferenceConflictError {
  const message =
    conflicts.length === 1
      ? `${conflicts[0].message.charAt(0).toUpperCase()}${conflicts[0].message.slice(1)}.`
      : `There are multiple conflicts that prevent committing the provided operations: ${conflicts.map((c) => c.message).join(', ')}.`;
  return new NessieReferenceConflictError(message, conflicts);
}

/** The value a remove or unchanged check expects when the key did not exist: never equal to a real value. */
export const ABSENT = '';

/** A change to apply on top of a head index, with the value it expects there (Nessie's `CreateCommit` actions). */
export interface Action {
  kind: 'add' | 'remove' | 'unchanged';
  key: ContentKey;
  /** Content type of the value ('' if unknown). */
  payload: string;
  contentId?: string;
  /** add only. */
  entry?: IndexEntry;
  /** null: the key must not exist (create); ABSENT: it did not exist where the change was planned. */
  expected: string | null;
}

interface Existing {
  payload: string;
  contentId?: string;
  value: string;
}

function existingOf(entry: IndexEntry | undefined): Existing | undefined {
  return entry && { payload: entry.content.type, contentId: entry.content.id, value: entry.value };
}

function checkForConflict(
  action: Action,
  existing: Existing | undefined,
  expected: string | null,
): Conflict | undefined {
  const k = `key '${keyToString(action.key)}'`;
  if (expected === null) return existing ? conflict('KEY_EXISTS', action.key, `${k} already exists`) : undefined;
  if (!existing) return conflict('KEY_DOES_NOT_EXIST', action.key, `${k} does not exist`);
  if (action.payload !== existing.payload)
    return conflict('PAYLOAD_DIFFERS', action.key, `payload of existing and expected content for ${k} are different`);
  if (action.contentId !== existing.contentId)
    return conflict(
      'CONTENT_ID_DIFFERS',
      action.key,
      `content IDs of existing and expected content for ${k} are different`,
    );
  if (expected !== existing.value)
    return conflict('VALUE_DIFFERS', action.key, `values of existing and expected content for ${k} are different`);
  return undefined;
}

/** How a merge resolves a conflict on a key: keep the change, drop it, or record the conflict. */
export type Resolution = 'ADD' | 'DROP';

export interface BuildHooks {
  /** Replaces the expected value of an action (merge `expectedTargetContent`). */
  expected?(action: Action): string | null;
  /** Replaces the value an add writes (merge `resolvedContent`). */
  added?(action: Action): IndexEntry | undefined;
  /** Called for each conflict; commits reject, merges decide. */
  onConflict?(conflict: Conflict, action: Action, existing: Existing | undefined): Resolution;
  onApplied?(action: Action): void;
}

/**
 * Checks actions against the head index and returns the resulting operations (CommitLogicImpl.buildCommitObj):
 * removes, then unchanged guards, then adds; a re-added key (removed and added in one commit) is checked only by its
 * remove; an add that reuses a removed content id is a rename.
 */
export function buildOperations(
  head: KeyIndex,
  actions: Action[],
  hooks: BuildHooks = {},
): { ops: CommitOp[]; conflicts: Conflict[] } {
  const conflicts: Conflict[] = [];
  const ops = new Map<KeyId, CommitOp>();
  const removed = new Set(actions.filter((a) => a.kind === 'remove').map((a) => keyId(a.key)));
  const reAdded = new Set(
    actions.filter((a) => a.kind === 'add' && removed.has(keyId(a.key))).map((a) => keyId(a.key)),
  );
  const removesById = new Map<string, Existing>();

  const handle = (found: Conflict | undefined, action: Action, existing: Existing | undefined): boolean => {
    if (!found) {
      hooks.onApplied?.(action);
      return true;
    }
    if (hooks.onConflict) return hooks.onConflict(found, action, existing) === 'ADD';
    conflicts.push(found);
    return false;
  };

  for (const action of actions.filter((a) => a.kind === 'remove')) {
    const existing = existingOf(head.get(keyId(action.key)));
    const expected = hooks.expected ? hooks.expected(action) : action.expected;
    if (action.contentId)
      removesById.set(action.contentId, {
        payload: action.payload,
        contentId: action.contentId,
        value: expected ?? ABSENT,
      });
    if (handle(checkForConflict(action, existing, expected), action, existing))
      ops.set(keyId(action.key), { key: action.key });
  }
  for (const action of actions.filter((a) => a.kind === 'unchanged')) {
    const id = keyId(action.key);
    const existing = reAdded.has(id) ? undefined : existingOf(head.get(id));
    const expected = hooks.expected ? hooks.expected(action) : action.expected;
    const found = checkForConflict(action, existing, reAdded.has(id) ? null : expected);
    if (found) handle(found, action, existing);
  }
  for (const action of actions.filter((a) => a.kind === 'add')) {
    const id = keyId(action.key);
    let existing = reAdded.has(id) ? undefined : existingOf(head.get(id));
    let found: Conflict | undefined;
    if (!reAdded.has(id) && action.contentId && removesById.has(action.contentId)) {
      if (existing) found = conflict('KEY_EXISTS', action.key, `key '${keyToString(action.key)}' already exists`);
      existing = removesById.get(action.contentId);
      removesById.delete(action.contentId);
    }
    const expected = hooks.expected ? hooks.expected(action) : action.expected;
    found ??= checkForConflict(action, existing, reAdded.has(id) ? null : expected);
    if (handle(found, action, existing)) {
      const entry = hooks.added?.(action) ?? action.entry!;
      ops.set(id, { key: entry.key, content: entry.content });
    }
  }
  const sorted = [...ops.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, op]) => op);
  return { ops: sorted, conflicts };
}

/**
 * Namespace rules (BaseCommitHelper.validateNamespaces): new content needs its parent namespace to exist on the head
 * (or be created in the same change); a deleted namespace must have no remaining children.
 */
export function namespaceConflicts(
  head: KeyIndex,
  newContent: Map<KeyId, IndexEntry>,
  deletedNamespaces: ContentKey[],
): Conflict[] {
  const conflicts = new Map<string, Conflict>();
  const add = (c: Conflict) => conflicts.set(`${c.conflictType}:${c.key ? keyId(c.key) : ''}`, c);
  const parents = new Map<KeyId, ContentKey>();
  for (const entry of newContent.values()) {
    if (entry.key.elements.length > 1) {
      const parent = { elements: entry.key.elements.slice(0, -1) };
      parents.set(keyId(parent), parent);
    }
  }
  for (const [id, parent] of parents) {
    if (newContent.get(id)?.content.type === 'NAMESPACE') continue;
    let key = parent;
    let found = head.get(keyId(key));
    while (!found) {
      add(conflict('NAMESPACE_ABSENT', key, `namespace '${keyToString(key)}' must exist`));
      if (key.elements.length === 1) break;
      key = { elements: key.elements.slice(0, -1) };
      found = head.get(keyId(key));
    }
    if (found && found.content.type !== 'NAMESPACE') {
      add(
        conflict(
          'NOT_A_NAMESPACE',
          key,
          `expecting the key '${keyToString(key)}' to be a namespace, but is not a namespace (using a content object that is not a namespace as a namespace is forbidden)`,
        ),
      );
    }
  }
  if (deletedNamespaces.length) {
    const deleted = new Set(deletedNamespaces.map(keyId));
    for (const ns of deletedNamespaces) {
      const prefix = `${keyId(ns)}\u0000`;
      for (const id of head.keys()) {
        if (id.startsWith(prefix) && !deleted.has(id)) {
          add(conflict('NAMESPACE_NOT_EMPTY', ns, `namespace '${keyToString(ns)}' is not empty`));
          break;
        }
      }
    }
  }
  return [...conflicts.values()];
}

// ---- graph ------------------------------------------------------------------------------------------------------

export function firstParent(repo: Repository, node: CommitNode): CommitNode | undefined {
  return node.parents.length ? repo.commits.get(node.parents[0]) : undefined;
}

/** Is `target` on the first-parent chain of `head` (Nessie's `commitInChain`)? Walks back only as far as needed. */
export function onFirstParentChain(repo: Repository, head: CommitNode, target: CommitNode): boolean {
  let current: CommitNode | undefined = head;
  while (current && current.depth >= target.depth) {
    if (current.hash === target.hash) return true;
    current = firstParent(repo, current);
  }
  return false;
}

/**
 * The nearest common ancestor of two commits, following all parents (merge parents included). Commits are visited
 * in decreasing generation, so all descendants of a commit are seen before it and the first commit reached from
 * both sides is a best merge base.
 */
export function mergeBase(repo: Repository, a: CommitNode, b: CommitNode): CommitNode {
  if (a.hash === b.hash) return a;
  const flags = new Map<string, number>([
    [a.hash, 1],
    [b.hash, 2],
  ]);
  const queue = maxHeap<CommitNode>((x, y) => x.generation - y.generation);
  queue.push(a);
  queue.push(b);
  for (let node = queue.pop(); node; node = queue.pop()) {
    const mine = flags.get(node.hash)!;
    if (mine === 3) return node;
    for (const hash of node.parents) {
      const before = flags.get(hash) ?? 0;
      const after = before | mine;
      if (after !== before) {
        flags.set(hash, after);
        if (before === 0) queue.push(repo.commits.get(hash)!);
      }
    }
  }
  return repo.commits.get(NO_ANCESTOR_HASH)!;
}

/** A binary max-heap (the merge-base walk may queue many commits of long-lived branches). */
function maxHeap<T>(compare: (x: T, y: T) => number): { push(item: T): void; pop(): T | undefined } {
  const items: T[] = [];
  return {
    push(item) {
      items.push(item);
      for (let i = items.length - 1; i > 0;) {
        const parent = (i - 1) >> 1;
        if (compare(items[i], items[parent]) <= 0) break;
        [items[i], items[parent]] = [items[parent], items[i]];
        i = parent;
      }
    },
    pop() {
      const top = items[0];
      const last = items.pop();
      if (items.length && last !== undefined) {
        items[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let largest = i;
          if (l < items.length && compare(items[l], items[largest]) > 0) largest = l;
          if (r < items.length && compare(items[r], items[largest]) > 0) largest = r;
          if (largest === i) break;
          [items[i], items[largest]] = [items[largest], items[i]];
          i = largest;
        }
      }
      return top;
    },
  };
}

/** Entries that differ between two indexes, in key order. */
export function diffIndexes(from: KeyIndex, to: KeyIndex): Array<{ id: KeyId; from?: IndexEntry; to?: IndexEntry }> {
  const out: Array<{ id: KeyId; from?: IndexEntry; to?: IndexEntry }> = [];
  if (from === to) return out;
  for (const [id, entry] of to) {
    const before = from.get(id);
    if (!before || before.value !== entry.value) out.push({ id, from: before, to: entry });
  }
  for (const [id, entry] of from) if (!to.has(id)) out.push({ id, from: entry });
  return out.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

/** Beyond this many commits between the two, comparing whole indexes is cheaper than collecting the keys they touched. */
const MAX_CHAIN_FOR_KEY_DIFF = 256;

/**
 * `diffIndexes(ancestor.index, descendant.index)` without visiting every key when `ancestor` is a few commits down
 * `descendant`'s first-parent chain (a WAP branch merged back): each index on that chain is its first parent's plus
 * the commit's own operations, so only the keys those operations touch can differ.
 */
export function diffCommits(
  repo: Repository,
  ancestor: CommitNode,
  descendant: CommitNode,
): Array<{ id: KeyId; from?: IndexEntry; to?: IndexEntry }> {
  const touched = new Set<KeyId>();
  let node: CommitNode | undefined = descendant;
  for (let steps = 0; node && node !== ancestor && node.depth > ancestor.depth; steps++) {
    if (steps === MAX_CHAIN_FOR_KEY_DIFF) break;
    for (const op of node.ops) touched.add(keyId(op.key));
    node = firstParent(repo, node);
  }
  if (node !== ancestor) return diffIndexes(ancestor.index, descendant.index);
  const out: Array<{ id: KeyId; from?: IndexEntry; to?: IndexEntry }> = [];
  for (const id of touched) {
    const before = ancestor.index.get(id);
    const after = descendant.index.get(id);
    if (after) {
      if (!before || before.value !== after.value) out.push({ id, from: before, to: after });
    } else if (before) out.push({ id, from: before });
  }
  return out.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

/** The commits reachable from any reference (for compaction), oldest generation first. */
export function reachableCommits(repo: Repository): CommitNode[] {
  const seen = new Set<string>();
  const stack = [...repo.refs.values()].map((r) => r.hash);
  while (stack.length) {
    const hash = stack.pop()!;
    if (seen.has(hash)) continue;
    seen.add(hash);
    const node = repo.commits.get(hash);
    if (node) stack.push(...node.parents);
  }
  return [...seen]
    .map((h) => repo.commits.get(h)!)
    .filter((n) => n && n.hash !== NO_ANCESTOR_HASH)
    .sort((x, y) => x.generation - y.generation);
}
