/**
 * A merge collects what changed between the merge base and the source from the source's own commits when the base is
 * a few commits down its first-parent chain (repository.ts diffCommits). On any pair of commits of a history with
 * branches, merges, updates, deletes and renames it must find exactly what comparing the two whole indexes finds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyMutation,
  diffCommits,
  diffIndexes,
  emptyRepository,
  type CommitNode,
  type Repository,
} from '../../local/nessie/repository.ts';
import { headerMeta, parseMergeBody, parseOperationsBody } from '../../local/nessie/requests.ts';
import * as writes from '../../local/nessie/writes.ts';

type Step =
  | { kind: 'branch'; from: number }
  | { kind: 'put'; branch: number; table: number; snapshot: number }
  | { kind: 'delete'; branch: number; table: number }
  | { kind: 'merge'; from: number; into: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('branch' as const), from: fc.nat(5) }),
  fc.record({ kind: fc.constant('put' as const), branch: fc.nat(5), table: fc.nat(7), snapshot: fc.nat(3) }),
  fc.record({ kind: fc.constant('delete' as const), branch: fc.nat(5), table: fc.nat(7) }),
  fc.record({ kind: fc.constant('merge' as const), from: fc.nat(5), into: fc.nat(5) }),
);

/** Plays the steps through the real write operations; steps that conflict or do not apply are skipped. */
function play(steps: Step[]): Repository {
  const repo = emptyRepository('main', new Date(0).toISOString());
  const meta = headerMeta({});
  const branches = ['main'];
  const head = (b: string) => repo.refs.get(b)!.hash;
  const run = (write: () => writes.WriteResult<unknown>) => {
    try {
      const { mutation } = write();
      if (mutation) applyMutation(repo, mutation);
    } catch {
      // A conflict or a no-op: the history just does not get this step.
    }
  };
  run(() =>
    writes.commit(
      repo,
      `main@${head('main')}`,
      parseOperationsBody({
        commitMeta: { message: 'ns' },
        operations: [{ type: 'PUT', key: { elements: ['ns'] }, content: { type: 'NAMESPACE', elements: ['ns'] } }],
      }),
      meta,
    ),
  );
  for (const s of steps) {
    if (s.kind === 'branch') {
      const from = branches[s.from % branches.length];
      const name = `b${branches.length}`;
      run(() => writes.createReference(repo, name, 'BRANCH', { type: 'BRANCH', name: from, hash: head(from) }));
      if (repo.refs.has(name)) branches.push(name);
    } else if (s.kind === 'put' || s.kind === 'delete') {
      const branch = branches[s.branch % branches.length];
      const key = { elements: ['ns', `t${s.table}`] };
      const existing = repo.commits.get(head(branch))!.index.get(`ns\u0000t${s.table}`);
      const operation =
        s.kind === 'delete'
          ? { type: 'DELETE', key }
          : {
              type: 'PUT',
              key,
              content: {
                type: 'ICEBERG_TABLE',
                ...(existing ? { id: existing.content.id } : {}),
                metadataLocation: `s3://m/${s.snapshot}`,
                snapshotId: 6270371423468402233n + BigInt(s.snapshot),
                schemaId: 0,
                specId: 0,
                sortOrderId: 0,
              },
            };
      run(() =>
        writes.commit(
          repo,
          `${branch}@${head(branch)}`,
          parseOperationsBody({ commitMeta: { message: s.kind }, operations: [operation] }),
          meta,
        ),
      );
    } else {
      const from = branches[s.from % branches.length];
      const into = branches[s.into % branches.length];
      run(() =>
        writes.merge(
          repo,
          `${into}@${head(into)}`,
          parseMergeBody({ fromRefName: from, fromHash: head(from), defaultKeyMergeMode: 'FORCE' }),
          meta,
        ),
      );
    }
  }
  return repo;
}

describe('merge diff from the source chain', () => {
  it('equals the whole-index diff for every pair of commits', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 40 }), (steps) => {
        const repo = play(steps);
        const commits: CommitNode[] = [...repo.commits.values()];
        for (const a of commits)
          for (const b of commits) expect(diffCommits(repo, a, b)).toStrictEqual(diffIndexes(a.index, b.index));
        return true;
      }),
      { numRuns: 40 },
    );
  });

  it('takes the chain path for a branch merged back, and agrees with the whole-index diff', () => {
    const repo = play([
      { kind: 'put', branch: 0, table: 1, snapshot: 1 },
      { kind: 'branch', from: 0 },
      { kind: 'put', branch: 1, table: 2, snapshot: 1 },
      { kind: 'put', branch: 1, table: 1, snapshot: 2 },
      { kind: 'put', branch: 0, table: 3, snapshot: 1 },
    ]);
    const base = repo.commits.get(repo.commits.get(repo.refs.get('b1')!.hash)!.parents[0])!;
    const fork = repo.commits.get(base.parents[0])!;
    const tip = repo.commits.get(repo.refs.get('b1')!.hash)!;
    const changed = diffCommits(repo, fork, tip);
    expect(changed.map((c) => c.id)).toStrictEqual(['ns\u0000t1', 'ns\u0000t2']);
    expect(changed).toStrictEqual(diffIndexes(fork.index, tip.index));
  });
});
