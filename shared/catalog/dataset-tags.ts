/**
 * Dataset tags: a Nessie tag is one consistent version of every table at once, and each production table also gets an
 * Iceberg tag of the same name in its own metadata (`refs`, type `tag`, `max-ref-age-ms` from the retention), so an
 * engine that reads one table's metadata (Spark `VERSION AS OF 'name'`, Trino, a reader given a snapshot id) finds
 * the same snapshot as a reader of the Nessie tag.
 *
 * Order matters: the refs are committed on the branch first (one Nessie commit through the commit path, all
 * production tables together), then the Nessie tag is created at exactly that commit — so the metadata the tag
 * points at already carries the refs. Input is checked before anything is written (name rules, an existing tag, a
 * missing branch); if the Nessie tag cannot be created after the refs were committed, the refs are taken back.
 *
 * What keeps a tag's rows alive: snapshot expiry never expires a snapshot an Iceberg tag retains (until the ref's
 * `max-ref-age-ms` passes), and orphan cleanup marks from every Nessie reference, tags included. Compaction only
 * adds snapshots; the files of the tagged snapshot stay reachable from it.
 */
import { commitOnBranch, keyName, type Catalog } from './table-catalog.ts';
import {
  isForbiddenRefName,
  NessieAlreadyExistsError,
  NessieBadRequestError,
  NessieNotFoundError,
  REF_NAME_PATTERN,
  REF_NAME_RULE,
  type NamedReference,
} from './nessie/index.ts';
import type { TableUpdate } from '../iceberg/commit.ts';
import type { TableMetadata } from '../iceberg/types.ts';

/** Commit properties of the commit that adds a tag's Iceberg refs (the Nessie tag points at it). */
export const TagProperty = {
  tag: 'floe.tag',
  message: 'floe.tag.message',
  retentionMs: 'floe.tag.retention-ms',
  branch: 'floe.tag.branch',
} as const;

/** Bad input (`invalid`, `exists`, `not-found`): nothing was changed. */
export class TagError extends Error {
  constructor(
    readonly kind: 'invalid' | 'exists' | 'not-found',
    message: string,
  ) {
    super(message);
    this.name = 'TagError';
  }
}

/** Why `name` cannot be a tag name, or undefined when it can (Nessie's reference-name rules; `main` is Iceberg's). */
export function tagNameProblem(name: string): string | undefined {
  if (!REF_NAME_PATTERN.test(name)) return `'${name}' is not a valid tag name: it must ${REF_NAME_RULE}`;
  if (isForbiddenRefName(name))
    return `'${name}' is not a valid tag name: HEAD, DETACHED and hash-like names are reserved`;
  if (name === 'main') return "'main' is not a valid tag name: it is the Iceberg main branch of every table";
  if (name.startsWith('wap/'))
    return `'${name}' is not a valid tag name: wap/ is where Write-Audit-Publish branches live`;
  return undefined;
}

export interface CreateTagOptions {
  name: string;
  /** The branch whose current state is tagged (the refs are committed on it). Default `main`. */
  from?: string;
  message?: string;
  /** Iceberg `max-ref-age-ms` of the table refs; undefined: the table's default (refs never expire). */
  retentionMs?: number;
  /** Namespace whose tables get Iceberg refs. Default `production`. */
  namespace?: string;
  /** Recorded with the tag (e.g. the schedule that made it). */
  properties?: Record<string, string>;
}

export interface TableTagRef {
  table: string;
  snapshotId: bigint;
}

export interface CreatedTag {
  name: string;
  /** The commit the Nessie tag points at (the one that added the Iceberg refs). */
  hash: string;
  from: string;
  tables: TableTagRef[];
}

async function branchHead(catalog: Catalog, name: string): Promise<NamedReference> {
  let ref: NamedReference;
  try {
    ref = await catalog.client.getReference(name);
  } catch (err) {
    if (err instanceof NessieNotFoundError) throw new TagError('not-found', `no branch '${name}' in the catalog`);
    if (err instanceof NessieBadRequestError)
      throw new TagError('invalid', `'${name}' is not a branch name: ${err.message}`);
    throw err;
  }
  if (ref.type !== 'BRANCH')
    throw new TagError(
      'invalid',
      `'${name}' is a tag, not a branch: a tag is taken of a branch (its Iceberg refs are committed there)`,
    );
  return ref;
}

/** The reference named `name`, or undefined when there is none. */
async function findReference(catalog: Catalog, name: string): Promise<NamedReference | undefined> {
  try {
    return await catalog.client.getReference(name, { fetch: 'ALL' });
  } catch (err) {
    if (err instanceof NessieNotFoundError) return undefined;
    throw err;
  }
}

/** Iceberg tables of `namespace` at a reference, sorted. */
export async function namespaceTables(catalog: Catalog, ref: string, namespace: string): Promise<string[]> {
  const { value } = await catalog.client.listEntries(ref, { filter: "entry.contentType == 'ICEBERG_TABLE'" });
  return value
    .filter((e) => e.type === 'ICEBERG_TABLE' && e.name.elements.length >= 2 && e.name.elements[0] === namespace)
    .map((e) => keyName(e.name))
    .sort();
}

function withoutRef(metadata: TableMetadata, name: string): TableMetadata {
  const refs = { ...metadata.refs };
  delete refs[name];
  return { ...metadata, refs };
}

/** Removes the Iceberg tag `name` from every listed table that has it, in one commit; the new head, if it changed. */
async function removeTableRefs(
  catalog: Catalog,
  branch: string,
  tables: string[],
  name: string,
  message: string,
): Promise<string | undefined> {
  if (!tables.length) return undefined;
  const update: TableUpdate = async (base) => (base?.refs[name]?.type === 'tag' ? withoutRef(base, name) : base);
  const commit = await commitOnBranch(catalog, branch, new Map(tables.map((t) => [t, update])), {
    message,
    properties: { [TagProperty.tag]: name },
  });
  return commit.hash;
}

/** Creates the Iceberg tag in every production table with a snapshot, then the Nessie tag at that commit. */
export async function createTag(catalog: Catalog, options: CreateTagOptions): Promise<CreatedTag> {
  const { name } = options;
  const from = options.from ?? 'main';
  const problem = tagNameProblem(name);
  if (problem) throw new TagError('invalid', problem);
  if (options.retentionMs !== undefined && !(Number.isSafeInteger(options.retentionMs) && options.retentionMs > 0)) {
    throw new TagError('invalid', `retention must be a positive number of milliseconds, got ${options.retentionMs}`);
  }
  await branchHead(catalog, from);
  const existing = await findReference(catalog, name);
  if (existing)
    throw new TagError(
      'exists',
      `${existing.type === 'TAG' ? 'tag' : 'branch'} '${name}' already exists (at ${existing.hash})`,
    );

  const tables = await namespaceTables(catalog, from, options.namespace ?? 'production');
  const tagged = new Map<string, bigint>();
  const update =
    (table: string): TableUpdate =>
    async (base) => {
      tagged.delete(table);
      if (!base || base.currentSnapshotId === undefined) return base;
      const clash = base.refs[name];
      if (clash)
        throw new TagError(
          'exists',
          `table ${table} already has an Iceberg ${clash.type} '${name}' (at snapshot ${clash.snapshotId})`,
        );
      tagged.set(table, base.currentSnapshotId);
      const ref = {
        snapshotId: base.currentSnapshotId,
        type: 'tag' as const,
        ...(options.retentionMs !== undefined ? { maxRefAgeMs: options.retentionMs } : {}),
      };
      return { ...base, refs: { ...base.refs, [name]: ref } };
    };
  const properties: Record<string, string> = {
    ...(options.properties ?? {}),
    [TagProperty.tag]: name,
    [TagProperty.branch]: from,
    ...(options.message ? { [TagProperty.message]: options.message } : {}),
    ...(options.retentionMs !== undefined ? { [TagProperty.retentionMs]: String(options.retentionMs) } : {}),
  };
  const commit = await commitOnBranch(catalog, from, new Map(tables.map((t) => [t, update(t)])), {
    message: `floe: tag ${name}${options.message ? `: ${options.message}` : ''}`,
    properties,
  });
  // Nothing to add (no table has a snapshot yet): the tag is of the branch head as it is.
  const hash = commit.hash ?? (await branchHead(catalog, from)).hash;
  try {
    await catalog.client.createReference(name, 'TAG', { name: from, hash });
  } catch (err) {
    if (tagged.size) {
      await removeTableRefs(
        catalog,
        from,
        [...tagged.keys()],
        name,
        `floe: untag ${name}: the Nessie tag could not be created`,
      ).catch(() => undefined);
    }
    if (err instanceof NessieAlreadyExistsError)
      throw new TagError('exists', `tag '${name}' already exists (created meanwhile)`);
    if (err instanceof NessieBadRequestError)
      throw new TagError('invalid', `Nessie rejected the tag name '${name}': ${err.message}`);
    throw err;
  }
  return {
    name,
    hash,
    from,
    tables: [...tagged]
      .map(([table, snapshotId]) => ({ table, snapshotId }))
      .sort((a, b) => a.table.localeCompare(b.table)),
  };
}

export interface DeletedTag {
  name: string;
  hash: string;
  /** Branches whose tables had the Iceberg refs removed. */
  refsRemovedOn: string[];
}

/** Removes the Iceberg tag from the tables of `main` (and the branch it was taken of), then deletes the Nessie tag. */
export async function deleteTag(
  catalog: Catalog,
  name: string,
  options: { namespace?: string } = {},
): Promise<DeletedTag> {
  const problem = tagNameProblem(name);
  if (problem) throw new TagError('invalid', problem);
  const ref = await findReference(catalog, name);
  if (!ref) throw new TagError('not-found', `no tag '${name}'`);
  if (ref.type !== 'TAG') throw new TagError('invalid', `'${name}' is a branch, not a tag`);
  const taken = ref.metadata?.commitMetaOfHEAD?.allProperties?.[TagProperty.branch]?.[0];
  const branches = [...new Set(['main', ...(taken ? [taken] : [])])];
  const refsRemovedOn: string[] = [];
  for (const branch of branches) {
    const head = await findReference(catalog, branch);
    if (head?.type !== 'BRANCH') continue;
    const tables = await namespaceTables(catalog, branch, options.namespace ?? 'production');
    await removeTableRefs(catalog, branch, tables, name, `floe: untag ${name}`);
    refsRemovedOn.push(branch);
  }
  try {
    await catalog.client.deleteReference(name, 'TAG', ref.hash);
  } catch (err) {
    if (err instanceof NessieNotFoundError) throw new TagError('not-found', `tag '${name}' was deleted meanwhile`);
    throw err;
  }
  return { name, hash: ref.hash, refsRemovedOn };
}
