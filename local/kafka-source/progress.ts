/**
 * Where a partition may be committed: after the last record of the longest run of completed records, in dispatch
 * order. A record still in flight holds back every later one (the gap), so a crash redelivers it and what follows —
 * never skips it. Dispatch order is offset order; offsets need not be contiguous (compaction, transaction markers).
 */

export interface PartitionProgress {
  dispatched(offset: bigint): void;
  completed(offset: bigint): void;
  /** The offset to commit (the next one to read), or undefined before anything completed. */
  commitPoint(): bigint | undefined;
  /** Dispatched and not completed. */
  readonly pending: number;
}

export function createPartitionProgress(): PartitionProgress {
  /** Dispatched offsets not yet folded into the commit point, oldest first, with their completion. */
  const window: { offset: bigint; done: boolean }[] = [];
  const byOffset = new Map<bigint, { offset: bigint; done: boolean }>();
  let head = 0;
  let point: bigint | undefined;
  let pending = 0;

  return {
    dispatched(offset) {
      const last = window[window.length - 1];
      if (last && offset <= last.offset) throw new RangeError(`offset ${offset} dispatched after ${last.offset}`);
      const entry = { offset, done: false };
      window.push(entry);
      byOffset.set(offset, entry);
      pending++;
    },
    completed(offset) {
      const entry = byOffset.get(offset);
      if (!entry || entry.done) return;
      entry.done = true;
      pending--;
      while (head < window.length && window[head].done) {
        point = window[head].offset + 1n;
        byOffset.delete(window[head].offset);
        head++;
      }
      // Drop the folded prefix now and then instead of shifting on every completion.
      if (head > 1024 && head * 2 > window.length) {
        window.splice(0, head);
        head = 0;
      }
    },
    commitPoint: () => point,
    get pending() {
      return pending;
    },
  };
}
