/** The pure parts of the eventing plane: a partition's commit point and a Trigger's delivery lane. */
import { describe, expect, it } from 'vitest';
import { createLane } from '../../local/broker/lane.ts';
import { createPartitionProgress } from '../../local/kafka-source/progress.ts';

describe('partition progress', () => {
  it('commits up to the first record still in flight, across offset gaps', () => {
    const progress = createPartitionProgress();
    for (const offset of [5n, 6n, 9n, 10n]) progress.dispatched(offset);
    expect(progress.commitPoint()).toBeUndefined();
    progress.completed(6n);
    progress.completed(10n);
    expect(progress.commitPoint()).toBeUndefined();
    progress.completed(5n);
    expect(progress.commitPoint()).toBe(7n);
    progress.completed(9n);
    expect(progress.commitPoint()).toBe(11n);
    expect(progress.pending).toBe(0);
  });

  it('keeps 64-bit offsets exact and refuses offsets out of order', () => {
    const progress = createPartitionProgress();
    progress.dispatched(9223372036854775806n);
    progress.completed(9223372036854775806n);
    expect(progress.commitPoint()).toBe(9223372036854775807n);
    expect(() => progress.dispatched(3n)).toThrow(RangeError);
  });

  it('folds long runs without growing', () => {
    const progress = createPartitionProgress();
    for (let i = 0n; i < 5000n; i++) progress.dispatched(i);
    for (let i = 4999n; i >= 0n; i--) progress.completed(i);
    expect(progress.commitPoint()).toBe(5000n);
    expect(progress.pending).toBe(0);
  });
});

describe('lane', () => {
  it('runs at most `concurrency` tasks, and one at a time per key', async () => {
    const lane = createLane(2);
    const releases = new Map<string, () => void>();
    const started: string[] = [];
    const task = (name: string) => () =>
      new Promise<string>((resolve) => {
        started.push(name);
        releases.set(name, () => resolve(name));
      });
    const done = [
      lane.run('a', task('a1')),
      lane.run('a', task('a2')),
      lane.run('b', task('b1')),
      lane.run(undefined, task('x')),
    ];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a1', 'b1']);
    expect([lane.active, lane.queued]).toEqual([2, 2]);
    releases.get('a1')!();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a1', 'b1', 'x']);
    releases.get('b1')!();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a1', 'b1', 'x', 'a2']);
    releases.get('x')!();
    releases.get('a2')!();
    expect(await Promise.all(done)).toEqual(['a1', 'a2', 'b1', 'x']);
    expect([lane.active, lane.queued]).toEqual([0, 0]);
  });

  it('passes a task failure to its caller and keeps going', async () => {
    const lane = createLane(1);
    const failed = lane.run('k', () => Promise.reject(new Error('boom')));
    const next = lane.run('k', async () => 'next');
    await expect(failed).rejects.toThrow('boom');
    expect(await next).toBe('next');
  });
});
