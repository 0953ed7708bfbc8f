/**
 * Resolving a reference path element (`main`, `main@<hash>~2`, `@<hash>`, `-`) to a commit, with Nessie's checks and
 * messages (`HashResolver`, `HashValidator`, `RefMapping.commitInChain`).
 */
import { NessieBadRequestError, NessieNotFoundError } from '../../shared/catalog/nessie/errors.ts';
import { NO_ANCESTOR_HASH, parseRefPath, REF_NAME_RULE, type RelativeSpec } from '../../shared/catalog/nessie/paths.ts';
import type { Reference, ReferenceType } from '../../shared/catalog/nessie/types.ts';
import { firstParent, onFirstParentChain, type CommitNode, type Repository } from './repository.ts';

export interface ResolvedRef {
  /** Undefined for a detached commit. */
  name?: string;
  type?: ReferenceType;
  /** The reference's current head (named references only). */
  head?: CommitNode;
  /** The commit the path element points to. */
  commit: CommitNode;
}

export interface ResolveRules {
  /** Writes: a starting commit id is mandatory; the text names it in messages ("Expected hash"). */
  hashRequired?: string;
  /** "Reference to commit into" must be a branch / branch or tag. */
  mustBe?: { what: string; types: ReferenceType[] };
  /** Writes: the commit must be on the reference's first-parent chain. */
  onReference?: boolean;
}

export const REF_PATH_MESSAGE = `Reference name must ${REF_NAME_RULE}, optionally followed by @ and a hash with optional relative part.`;

export function parseRef(text: string): { name?: string; hash?: string; relative: RelativeSpec[] } {
  const parsed = parseRefPath(text);
  if (!parsed) throw new NessieBadRequestError(`${REF_PATH_MESSAGE} - but was: ${text}`);
  return parsed;
}

export function commitByHash(repo: Repository, hash: string): CommitNode {
  const node = repo.commits.get(hash);
  if (!node) throw new NessieNotFoundError('REFERENCE_NOT_FOUND', `Commit '${hash}' not found`);
  return node;
}

export function namedRef(repo: Repository, name: string): { name: string; type: ReferenceType; head: CommitNode } {
  const ref = repo.refs.get(name);
  if (!ref) throw new NessieNotFoundError('REFERENCE_NOT_FOUND', `Named reference '${name}' not found`);
  return { name, type: ref.type, head: commitByHash(repo, ref.hash) };
}

function applyRelative(repo: Repository, start: CommitNode, specs: RelativeSpec[]): CommitNode {
  const root = repo.commits.get(NO_ANCESTOR_HASH)!;
  let node: CommitNode | undefined = start;
  for (const spec of specs) {
    if (!node || node.parents.length === 0) break;
    if (spec.kind === '*') {
      while (node && node.parents.length && node.createdMs > spec.timeMs) node = firstParent(repo, node);
    } else if (spec.kind === '~') {
      for (let i = 0; i < spec.n && node && node.parents.length; i++) node = firstParent(repo, node);
    } else {
      const hash: string | undefined = node.parents[spec.n - 1];
      node = hash === undefined ? undefined : repo.commits.get(hash);
    }
  }
  // Walking past the first commit lands on "the beginning of time", like Nessie's no-ancestor hash.
  return node && node.parents.length ? node : root;
}

export function resolveRef(repo: Repository, text: string, rules: ResolveRules = {}): ResolvedRef {
  const parsed = parseRef(text);
  const name = parsed.name === '-' ? repo.defaultBranch : parsed.name;
  const named = name === undefined ? undefined : namedRef(repo, name);
  if (rules.mustBe && (!named || !rules.mustBe.types.includes(named.type))) {
    throw new NessieBadRequestError(
      `${rules.mustBe.what} must be ${rules.mustBe.types.length > 1 ? 'a branch or a tag' : 'a branch'}.`,
    );
  }
  const hashText = rules.hashRequired ?? 'Hash';
  if ((rules.hashRequired || !named) && !parsed.hash) {
    throw new NessieBadRequestError(
      parsed.relative.length ? `${hashText} must contain a starting commit ID.` : `${hashText} must be provided.`,
    );
  }
  const start = parsed.hash ? repo.commits.get(parsed.hash) : named!.head;
  if (!start) {
    const message =
      rules.onReference && named
        ? `Could not find commit '${parsed.hash}' in reference '${named.name}'.`
        : `Commit '${parsed.hash}' not found`;
    throw new NessieNotFoundError('REFERENCE_NOT_FOUND', message);
  }
  const commit = parsed.relative.length ? applyRelative(repo, start, parsed.relative) : start;
  if (rules.onReference && named && commit.hash !== named.head.hash && !onFirstParentChain(repo, named.head, commit)) {
    throw new NessieNotFoundError(
      'REFERENCE_NOT_FOUND',
      `Could not find commit '${commit.hash}' in reference '${named.name}'.`,
    );
  }
  return { name: named?.name, type: named?.type, head: named?.head, commit };
}

/** The `effectiveReference` of a read: the named reference at the commit read, or a detached commit. */
export function effectiveReference(resolved: ResolvedRef): Reference {
  return resolved.name !== undefined
    ? { type: resolved.type!, name: resolved.name, hash: resolved.commit.hash }
    : { type: 'DETACHED', hash: resolved.commit.hash };
}
