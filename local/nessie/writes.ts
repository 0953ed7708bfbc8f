/**
 * The write operations: each takes the repository and a validated request, checks it against the current state and
 * returns the response plus the `Mutation` to log (none for dry runs, conflicts and no-ops). They run one at a time
 * (the store's queue), so the state they check is the state they change.
 */
import { randomUUID } from 'node:crypto';
import {
  NessieAlreadyExistsError,
  NessieBadRequestError,
  NessieReferenceConflictError,
} from '../../shared/catalog/nessie/errors.ts';
import {
  HASH_PATTERN,
  isForbiddenRefName,
  REF_NAME_PATTERN,
  REF_NAME_RULE,
} from '../../shared/catalog/nessie/paths.ts';
import { contentKeyProblem } from '../../shared/catalog/nessie/content-schema.ts';
import {
  keyToString,
  type AddedContent,
  type CommitResponse,
  type Conflict,
  type Content,
  type ContentKey,
  type MergeBehavior,
  type MergeKeyDetails,
  type MergeResponse,
  type NamedReference,
  type ReferenceType,
} from '../../shared/catalog/nessie/types.ts';
import {
  ABSENT,
  applyOps,
  buildOperations,
  commitHash,
  conflict,
  conflictError,
  diffCommits,
  indexEntry,
  keyId,
  mergeBase,
  namespaceConflicts,
  type Action,
  type CommitNode,
  type CommitOp,
  type IndexEntry,
  type KeyId,
  type KeyIndex,
  type Mutation,
  type Repository,
  type StoredCommitMeta,
} from './repository.ts';
import type {
  CommitMetaBody,
  HeaderMeta,
  KeyMergeBehaviorBody,
  MergeBody,
  OperationsBody,
  ReferenceBody,
  TransplantBody,
} from './requests.ts';
import { commitByHash, namedRef, parseRef, resolveRef } from './resolve.ts';

export interface WriteResult<T> {
  response: T;
  mutation?: Mutation;
}

export function validateKey(key: ContentKey): void {
  const problem = contentKeyProblem(key.elements);
  if (problem) throw new NessieBadRequestError(problem);
}

function parseRefType(type: string | undefined, required: boolean): ReferenceType | undefined {
  if (type === undefined) {
    if (required) throw new NessieBadRequestError('Mandatory reference type missing');
    return undefined;
  }
  const upper = type.toUpperCase();
  if (upper !== 'BRANCH' && upper !== 'TAG')
    throw new NessieBadRequestError("Reference type name must be either 'branch' or 'tag'");
  return upper;
}

/** The commit a reference body points to (create/assign target); the hash is mandatory. */
function targetCommit(repo: Repository, body: ReferenceBody): CommitNode {
  if (!body.hash) throw new NessieBadRequestError('Target hash must be provided.');
  if (!HASH_PATTERN.test(body.hash)) throw new NessieBadRequestError('Target hash must contain a starting commit ID.');
  if (body.type !== 'DETACHED' && body.name) namedRef(repo, body.name);
  return commitByHash(repo, body.hash.toLowerCase());
}

function reference(name: string, type: ReferenceType, hash: string): NamedReference {
  return { type, name, hash };
}

export function createReference(
  repo: Repository,
  name: string | undefined,
  typeParam: string | undefined,
  body: ReferenceBody,
): WriteResult<{ reference: NamedReference }> {
  if (!name) throw new NessieBadRequestError('Reference name must be provided.');
  if (!REF_NAME_PATTERN.test(name))
    throw new NessieBadRequestError(`Reference name must ${REF_NAME_RULE} - but was: ${name}`);
  if (isForbiddenRefName(name))
    throw new NessieBadRequestError(
      `Reference name mut not be HEAD, DETACHED or a potential commit ID representation. - but was ${name}`,
    );
  const type = parseRefType(typeParam, true)!;
  const target = targetCommit(repo, body);
  if (repo.refs.has(name)) throw new NessieAlreadyExistsError(`Named reference '${name}' already exists.`);
  const created = reference(name, type, target.hash);
  return { response: { reference: created }, mutation: { commits: [], refs: [{ name, type, hash: target.hash }] } };
}

/** The named reference of an assign/delete path and the hash it must be at (Nessie checks the current head). */
function expectedRef(
  repo: Repository,
  refPath: string,
  typeParam: string | undefined,
): { name: string; type: ReferenceType; head: CommitNode; expected: CommitNode } {
  const type = parseRefType(typeParam, false);
  const parsed = parseRef(refPath);
  const name = parsed.name === '-' ? repo.defaultBranch : parsed.name;
  if (name === undefined) throw new NessieBadRequestError('Assignment target must be a branch or a tag.');
  const named = namedRef(repo, name);
  if (type && type !== named.type)
    throw new NessieBadRequestError(
      `Expected reference type ${type} does not match existing reference ${named.type === 'BRANCH' ? 'Branch' : 'Tag'}{name=${name}}`,
    );
  const resolved = resolveRef(repo, refPath, { hashRequired: 'Expected hash' });
  return { ...named, expected: resolved.commit };
}

function unexpectedHash(name: string, expected: string, actual: string): NessieReferenceConflictError {
  return conflictError([
    conflict(
      'UNEXPECTED_HASH',
      undefined,
      `named-reference '${name}' is not at expected hash '${expected}', but at '${actual}'`,
    ),
  ]);
}

export function assignReference(
  repo: Repository,
  refPath: string,
  typeParam: string | undefined,
  body: ReferenceBody,
): WriteResult<{ reference: NamedReference }> {
  const ref = expectedRef(repo, refPath, typeParam);
  const target = targetCommit(repo, body);
  if (ref.expected.hash !== ref.head.hash) throw unexpectedHash(ref.name, ref.expected.hash, ref.head.hash);
  return {
    response: { reference: reference(ref.name, ref.type, target.hash) },
    mutation: { commits: [], refs: [{ name: ref.name, type: ref.type, hash: target.hash }] },
  };
}

export function deleteReference(
  repo: Repository,
  refPath: string,
  typeParam: string | undefined,
): WriteResult<{ reference: NamedReference }> {
  const parsed = parseRef(refPath);
  const name = parsed.name === '-' ? repo.defaultBranch : parsed.name;
  if (name !== undefined && repo.refs.get(name)?.type === 'BRANCH' && name === repo.defaultBranch) {
    throw new NessieBadRequestError(`Default branch '${name}' cannot be deleted.`);
  }
  const ref = expectedRef(repo, refPath, typeParam);
  if (ref.expected.hash !== ref.head.hash) throw unexpectedHash(ref.name, ref.expected.hash, ref.head.hash);
  return {
    response: { reference: reference(ref.name, ref.type, ref.head.hash) },
    mutation: { commits: [], refs: [{ name: ref.name, type: ref.type, hash: null }] },
  };
}

// ---- commit metadata --------------------------------------------------------------------------------------------

function rejectServerFields(meta: Partial<CommitMetaBody> | null | undefined): void {
  if (!meta) return;
  if (meta.committer != null)
    throw new NessieBadRequestError('Cannot set the committer on the client side. It is set by the server.');
  if (meta.commitTime != null)
    throw new NessieBadRequestError('Cannot set the commit time on the client side. It is set by the server.');
  if (meta.hash != null)
    throw new NessieBadRequestError('Cannot set the commit hash on the client side. It is set by the server.');
  if (meta.parentCommitHashes?.length)
    throw new NessieBadRequestError('Cannot set the parent commit hashes on the client side. It is set by the server.');
}

function commitMeta(
  body: Partial<CommitMetaBody> | null | undefined,
  headers: HeaderMeta,
  defaultMessage = '',
): StoredCommitMeta {
  const now = new Date().toISOString();
  const properties: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(body?.properties ?? {})) properties[k] = [v];
  for (const [k, v] of Object.entries(body?.allProperties ?? {})) properties[k] = [...v];
  for (const [k, v] of Object.entries(headers.properties)) properties[k] = [...(properties[k] ?? []), ...v];
  const authorTime = body?.authorTime ?? undefined;
  if (authorTime !== undefined && Number.isNaN(Date.parse(authorTime)))
    throw new NessieBadRequestError(`Invalid authorTime '${authorTime}'`);
  return {
    committer: '',
    authors: [...(body?.authors ?? []), ...(body?.author ? [body.author] : []), ...headers.authors],
    allSignedOffBy: [
      ...(body?.allSignedOffBy ?? []),
      ...(body?.signedOffBy ? [body.signedOffBy] : []),
      ...headers.signedOffBy,
    ],
    message: headers.message ?? (body?.message || defaultMessage),
    commitTime: now,
    authorTime: authorTime ? new Date(authorTime).toISOString() : now,
    allProperties: properties,
  };
}

function newCommit(parents: string[], meta: StoredCommitMeta, ops: CommitOp[]): Mutation['commits'][number] {
  return { hash: commitHash(parents), parents, meta, ops };
}

// ---- commit -----------------------------------------------------------------------------------------------------

interface CommitPlan {
  actions: Action[];
  newContent: Map<KeyId, IndexEntry>;
  deletedNamespaces: ContentKey[];
  added: AddedContent[];
}

/** Turns the request's operations into checked actions against the expected index (CommitImpl.commitAddOperations). */
function planCommit(
  expected: KeyIndex,
  operations: OperationsBody['operations'],
  unchangedMatters: boolean,
): CommitPlan {
  const plan: CommitPlan = { actions: [], newContent: new Map(), deletedNamespaces: [], added: [] };
  const seen = new Map<KeyId, OperationsBody['operations'][number]>();
  for (const op of operations) {
    validateKey(op.key);
    const id = keyId(op.key);
    const previous = seen.get(id);
    const reAdd = previous?.type === 'DELETE' && op.type === 'PUT' && !op.content.id;
    if (previous && !reAdd)
      throw new NessieBadRequestError(`Duplicate key in commit operations: ${keyToString(op.key)}`);
    seen.set(id, op);
  }

  const deletedById = new Map<string, KeyId>();
  for (const op of operations) {
    if (op.type !== 'DELETE') continue;
    const existing = expected.get(keyId(op.key));
    if (existing) {
      if (existing.content.id) deletedById.set(existing.content.id, keyId(op.key));
      if (existing.content.type === 'NAMESPACE') plan.deletedNamespaces.push(op.key);
    }
    plan.actions.push({
      kind: 'remove',
      key: op.key,
      payload: existing?.content.type ?? '',
      contentId: existing?.content.id,
      expected: existing?.value ?? ABSENT,
    });
  }

  for (const op of operations) {
    if (op.type === 'PUT') {
      const key = op.key;
      const k = keyToString(key);
      let content: Content = op.content;
      let putId = content.id;
      let existing = expected.get(keyId(key));
      let deletedKey: KeyId | undefined;
      if (!existing && putId) {
        deletedKey = deletedById.get(putId);
        deletedById.delete(putId);
        plan.newContent.set(keyId(key), indexEntry(key, content));
      }
      if (existing && !putId && [...deletedById.values()].includes(keyId(key))) deletedKey = keyId(key);
      if (deletedKey !== undefined) existing = expected.get(deletedKey);
      let payload: string = content.type;
      let expectedValue: string | null = null;
      let exists = false;
      if (existing) {
        payload = existing.content.type;
        expectedValue = existing.value;
        if (!putId) {
          if (deletedKey === undefined)
            throw new NessieBadRequestError(`New value to update existing key '${k}' has no content ID`);
          expectedValue = null;
        } else {
          if (existing.content.id !== putId)
            throw new NessieBadRequestError(
              `Key '${k}' already exists with content ID ${existing.content.id}, which is different from the content ID ${putId} in the operation`,
            );
          exists = true;
        }
      }
      if (!exists) {
        if (putId) throw new NessieBadRequestError(`New value for key '${k}' must not have a content ID`);
        putId = randomUUID();
        content = { ...content, id: putId };
        plan.newContent.set(keyId(key), indexEntry(key, content));
        plan.added.push({ key, contentId: putId });
      }
      plan.actions.push({
        kind: 'add',
        key,
        payload,
        contentId: putId,
        entry: indexEntry(key, content),
        expected: expectedValue,
      });
    } else if (op.type === 'UNCHANGED' && unchangedMatters) {
      const existing = expected.get(keyId(op.key));
      plan.actions.push({
        kind: 'unchanged',
        key: op.key,
        payload: existing?.content.type ?? '',
        contentId: existing?.content.id,
        expected: existing?.value ?? ABSENT,
      });
    }
  }
  return plan;
}

export function commit(
  repo: Repository,
  branchPath: string,
  body: OperationsBody,
  headers: HeaderMeta,
): WriteResult<CommitResponse> {
  rejectServerFields(body.commitMeta);
  const target = resolveRef(repo, branchPath, {
    mustBe: { what: 'Reference to commit into', types: ['BRANCH'] },
    hashRequired: 'Expected hash',
    onReference: true,
  });
  const head = target.head!;
  const plan = planCommit(target.commit.index, body.operations, target.commit !== head);
  const namespaces = namespaceConflicts(head.index, plan.newContent, plan.deletedNamespaces);
  if (namespaces.length) throw conflictError(namespaces);
  const { ops, conflicts } = buildOperations(head.index, plan.actions);
  if (conflicts.length) throw conflictError(conflicts);
  const record = newCommit([head.hash], commitMeta(body.commitMeta, headers), ops);
  return {
    response: { targetBranch: reference(target.name!, 'BRANCH', record.hash), addedContents: plan.added },
    mutation: { commits: [record], refs: [{ name: target.name!, type: 'BRANCH', hash: record.hash }] },
  };
}

// ---- merge & transplant -----------------------------------------------------------------------------------------

/** Per-key merge modes and their bookkeeping (MergeBehaviors): every listed key must be touched by the merge. */
function mergeModes(modes: KeyMergeBehaviorBody[], defaultMode: MergeBehavior, transplant: boolean) {
  const byKey = new Map<KeyId, KeyMergeBehaviorBody>();
  for (const mode of modes) {
    validateKey(mode.key);
    if (byKey.has(keyId(mode.key)))
      throw new NessieBadRequestError(`Duplicate key in keyMergeModes: ${keyToString(mode.key)}`);
    if (mode.resolvedContent) {
      if (transplant)
        throw new NessieBadRequestError(
          `MergeKeyBehavior.resolvedContent is not supported for transplants (key ${keyToString(mode.key)})`,
        );
      if (mode.mergeBehavior !== 'NORMAL')
        throw new NessieBadRequestError(
          `MergeKeyBehavior.resolvedContent must be null for MergeBehavior.${mode.mergeBehavior} for ${keyToString(mode.key)}`,
        );
      if (!mode.expectedTargetContent)
        throw new NessieBadRequestError(
          `MergeKeyBehavior.resolvedContent requires setting MergeKeyBehavior.expectedTarget as well for key ${keyToString(mode.key)}`,
        );
    }
    byKey.set(keyId(mode.key), mode);
  }
  const remaining = new Set(byKey.keys());
  const resolvedUsed = new Set<KeyId>();
  return {
    behavior: (id: KeyId): MergeBehavior => byKey.get(id)?.mergeBehavior ?? defaultMode,
    use(id: KeyId, add: boolean): KeyMergeBehaviorBody | undefined {
      remaining.delete(id);
      if (add) resolvedUsed.add(id);
      return byKey.get(id);
    },
    postValidate(): void {
      if (remaining.size) {
        const keys = [...remaining].map((id) => keyToString({ elements: id.split('\u0000') }));
        throw new NessieBadRequestError(
          `Not all merge key behaviors specified in the request have been used. The following keys were not used: [${keys.join(', ')}]`,
        );
      }
      for (const [id, mode] of byKey) {
        if (mode.resolvedContent && !resolvedUsed.has(id))
          throw new NessieBadRequestError(
            `The merge behavior for key ${keyToString(mode.key)} has an unused resolvedContent attribute.`,
          );
      }
    },
  };
}

type Modes = ReturnType<typeof mergeModes>;

/** Applies merge/transplant actions on the target head with the per-key modes; records details per key. */
function mergeOperations(
  head: KeyIndex,
  actions: Action[],
  modes: Modes,
  details: Map<KeyId, MergeKeyDetails>,
): CommitOp[] {
  const { ops } = buildOperations(head, actions, {
    expected(action) {
      const mode = modes.use(keyId(action.key), false);
      return mode?.expectedTargetContent ? indexEntry(action.key, mode.expectedTargetContent).value : action.expected;
    },
    added(action) {
      const mode = modes.use(keyId(action.key), true);
      return mode?.resolvedContent ? indexEntry(action.key, mode.resolvedContent) : undefined;
    },
    onConflict(found, action, existing) {
      const id = keyId(action.key);
      if (
        found.conflictType === 'KEY_EXISTS' &&
        action.kind === 'add' &&
        existing &&
        existing.payload === action.payload
      ) {
        // The same value already on the target: nothing to do. Namespaces on both sides: the source's wins.
        if (action.entry && existing.value === action.entry.value) return 'DROP';
        if (action.payload === 'NAMESPACE') return 'ADD';
      }
      const behavior = modes.behavior(id);
      const mode = modes.use(id, false);
      if ((behavior === 'FORCE' || behavior === 'DROP') && !mode?.expectedTargetContent) {
        details.set(id, { key: action.key, mergeBehavior: behavior });
        return behavior === 'FORCE' ? 'ADD' : 'DROP';
      }
      details.set(id, { key: action.key, mergeBehavior: behavior, conflict: found });
      return 'ADD';
    },
    onApplied(action) {
      const id = keyId(action.key);
      if (!details.has(id)) details.set(id, { key: action.key, mergeBehavior: modes.behavior(id) });
    },
  });
  return ops;
}

/** Actions that turn `from` into `to` (CommitLogicImpl.diffToCreateCommit), minus DROP keys. */
function diffActions(
  changes: Array<{ id: KeyId; from?: IndexEntry; to?: IndexEntry }>,
  modes: Modes,
  details: Map<KeyId, MergeKeyDetails>,
): Action[] {
  const actions: Action[] = [];
  for (const d of changes) {
    if (modes.behavior(d.id) === 'DROP') {
      const key = (d.to ?? d.from)!.key;
      modes.use(d.id, false);
      details.set(d.id, { key, mergeBehavior: 'DROP' });
      continue;
    }
    if (!d.from) {
      actions.push({
        kind: 'add',
        key: d.to!.key,
        payload: d.to!.content.type,
        contentId: d.to!.content.id,
        entry: d.to,
        expected: null,
      });
    } else if (!d.to) {
      actions.push({
        kind: 'remove',
        key: d.from.key,
        payload: d.from.content.type,
        contentId: d.from.content.id,
        expected: d.from.value,
      });
    } else {
      if (d.from.content.id !== d.to.content.id) {
        actions.push({
          kind: 'remove',
          key: d.from.key,
          payload: d.from.content.type,
          contentId: d.from.content.id,
          expected: d.from.value,
        });
      }
      actions.push({
        kind: 'add',
        key: d.to.key,
        payload: d.to.content.type,
        contentId: d.to.content.id,
        entry: d.to,
        expected: d.from.value,
      });
    }
  }
  return actions;
}

/** Namespace rules for what a merge/transplant writes (verifyMergeTransplantCommitPolicies). */
function checkMergeNamespaces(head: KeyIndex, ops: CommitOp[]): void {
  const newContent = new Map<KeyId, IndexEntry>();
  const deletedNamespaces: ContentKey[] = [];
  for (const op of ops) {
    const existing = head.get(keyId(op.key));
    if (op.content && !existing) newContent.set(keyId(op.key), indexEntry(op.key, op.content));
    if (!op.content && existing?.content.type === 'NAMESPACE') deletedNamespaces.push(op.key);
  }
  const conflicts = namespaceConflicts(head, newContent, deletedNamespaces);
  if (conflicts.length) throw conflictError(conflicts);
}

function mergeConflictError(details: MergeKeyDetails[]): NessieReferenceConflictError {
  const conflicting = details
    .filter((d) => d.conflict)
    .map((d) => `'${keyToString(d.key)}'`)
    .sort();
  // Like Nessie's MergeConflictException: one entry per key of the merge, non-conflicting keys as KEY_CONFLICT/UNKNOWN.
  const conflicts: Conflict[] = details.map((d) => d.conflict ?? conflict('KEY_CONFLICT', d.key, 'UNKNOWN'));
  return new NessieReferenceConflictError(
    `The following keys have been changed in conflict: ${conflicting.join(', ')}`,
    conflicts,
  );
}

function sortedDetails(details: Map<KeyId, MergeKeyDetails>): MergeKeyDetails[] {
  return [...details.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, d]) => d);
}

function finishMerge(
  base: Omit<MergeResponse, 'wasApplied' | 'wasSuccessful' | 'resultantTargetHash' | 'details'>,
  details: MergeKeyDetails[],
  head: CommitNode,
  records: Mutation['commits'],
  targetName: string,
  options: { dryRun: boolean; returnConflictAsResult: boolean },
): WriteResult<MergeResponse> {
  const hasConflicts = details.some((d) => d.conflict);
  if (hasConflicts) {
    if (!options.returnConflictAsResult) throw mergeConflictError(details);
    return { response: { ...base, wasApplied: false, wasSuccessful: false, resultantTargetHash: null, details } };
  }
  if (records.length === 0)
    return { response: { ...base, wasApplied: false, wasSuccessful: true, resultantTargetHash: head.hash, details } };
  if (options.dryRun)
    return { response: { ...base, wasApplied: false, wasSuccessful: true, resultantTargetHash: null, details } };
  const newHead = records[records.length - 1].hash;
  return {
    response: { ...base, wasApplied: true, wasSuccessful: true, resultantTargetHash: newHead, details },
    mutation: { commits: records, refs: [{ name: targetName, type: 'BRANCH', hash: newHead }] },
  };
}

export function merge(
  repo: Repository,
  branchPath: string,
  body: MergeBody,
  headers: HeaderMeta,
): WriteResult<MergeResponse> {
  rejectServerFields(body.commitMeta);
  if (!body.fromHash) throw new NessieBadRequestError('Source hash must be provided.');
  const fromName = body.fromRefName === 'DETACHED' ? '' : body.fromRefName;
  const from = resolveRef(repo, `${fromName}@${body.fromHash}`, { hashRequired: 'Source hash' });
  const target = resolveRef(repo, branchPath, {
    mustBe: { what: 'Reference to merge into', types: ['BRANCH'] },
    hashRequired: 'Expected hash',
    onReference: true,
  });
  const head = target.head!;
  const modes = mergeModes(body.keyMergeModes, body.defaultKeyMergeMode ?? 'NORMAL', false);
  const common = mergeBase(repo, head, from.commit);
  const base = {
    targetBranch: target.name!,
    effectiveTargetHash: head.hash,
    expectedHash: target.commit.hash,
    commonAncestor: common.hash,
  };
  const options = { dryRun: body.dryRun === true, returnConflictAsResult: body.returnConflictAsResult === true };
  if (common.hash === from.commit.hash) {
    return {
      response: { ...base, wasApplied: false, wasSuccessful: true, resultantTargetHash: head.hash, details: [] },
    };
  }
  const details = new Map<KeyId, MergeKeyDetails>();
  const actions = diffActions(diffCommits(repo, common, from.commit), modes, details);
  const ops = mergeOperations(head.index, actions, modes, details);
  checkMergeNamespaces(head.index, ops);
  modes.postValidate();
  const defaultMessage = `Merged ${body.fromRefName} at ${from.commit.hash} into ${target.name} at ${target.commit.hash}`;
  const meta = commitMeta(
    { ...body.commitMeta, message: body.commitMeta?.message || body.message || '' },
    headers,
    defaultMessage,
  );
  const records = ops.length ? [newCommit([head.hash, from.commit.hash], meta, ops)] : [];
  return finishMerge(base, sortedDetails(details), head, records, target.name!, options);
}

export function transplant(
  repo: Repository,
  branchPath: string,
  body: TransplantBody,
  headers: HeaderMeta,
): WriteResult<MergeResponse> {
  if (body.hashesToTransplant.length === 0) throw new NessieBadRequestError('No hashes given to transplant.');
  const fromName = body.fromRefName === '-' ? repo.defaultBranch : body.fromRefName;
  namedRef(repo, fromName);
  const sources = body.hashesToTransplant.map((hash) => {
    if (!HASH_PATTERN.test(hash))
      throw new NessieBadRequestError('Hash to transplant must contain a starting commit ID.');
    return commitByHash(repo, hash.toLowerCase());
  });
  const target = resolveRef(repo, branchPath, {
    mustBe: { what: 'Reference to transplant into', types: ['BRANCH'] },
    hashRequired: 'Expected hash',
    onReference: true,
  });
  const head = target.head!;
  for (let i = 1; i < sources.length; i++) {
    if (sources[i].parents[0] !== sources[i - 1].hash)
      throw new NessieBadRequestError('Sequence of hashes is not contiguous.');
  }
  const modes = mergeModes(body.keyMergeModes, body.defaultKeyMergeMode ?? 'NORMAL', true);
  const details = new Map<KeyId, MergeKeyDetails>();
  const records: Mutation['commits'] = [];
  let parentIndex = commitByHash(repo, sources[0].parents[0]).index;
  let targetHead = head.hash;
  let targetIndex = head.index;
  for (const source of sources) {
    const actions: Action[] = source.ops.map((op) => {
      const before = parentIndex.get(keyId(op.key));
      if (op.content) {
        const entry = indexEntry(op.key, op.content);
        return {
          kind: 'add',
          key: op.key,
          payload: entry.content.type,
          contentId: entry.content.id,
          entry,
          expected: before?.value ?? null,
        };
      }
      return {
        kind: 'remove',
        key: op.key,
        payload: before?.content.type ?? '',
        contentId: before?.content.id,
        expected: before?.value ?? ABSENT,
      };
    });
    checkMergeNamespaces(targetIndex, source.ops);
    const ops = mergeOperations(targetIndex, actions, modes, details);
    parentIndex = source.index;
    if (!ops.length) continue;
    const message = sources.length === 1 && body.message ? body.message : source.meta.message;
    const meta = {
      ...commitMeta(
        {
          message,
          authors: source.meta.authors,
          allSignedOffBy: source.meta.allSignedOffBy,
          allProperties: source.meta.allProperties,
        },
        headers,
      ),
      authorTime: source.meta.authorTime,
    };
    const record = newCommit([targetHead], meta, ops);
    records.push(record);
    targetHead = record.hash;
    targetIndex = applyOps(targetIndex, ops);
  }
  modes.postValidate();
  const base = {
    targetBranch: target.name!,
    effectiveTargetHash: head.hash,
    expectedHash: target.commit.hash,
    commonAncestor: null,
  };
  return finishMerge(base, sortedDetails(details), head, records, target.name!, {
    dryRun: body.dryRun === true,
    returnConflictAsResult: body.returnConflictAsResult === true,
  });
}
