/**
 * A Trigger's delivery lane: at most `concurrency` deliveries at once, first come first served, and — for an
 * `ordered` Trigger — one at a time per key (the event's `partitionkey`; the Kafka broker's order is per partition,
 * and replies are partitioned by that key). O(1) per task: a key's later tasks wait in their own queue, so a long run
 * of one busy key never delays the others.
 */

export interface Lane {
  /** Runs `task` when a slot is free and no earlier task with the same key is still queued or running. */
  run<T>(key: string | undefined, task: () => Promise<T>): Promise<T>;
  /** Tasks running now. */
  readonly active: number;
  /** Tasks waiting for a slot or for their key. */
  readonly queued: number;
}

interface Entry {
  key: string | undefined;
  start(): Promise<void>;
}

export function createLane(concurrency: number): Lane {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`lane concurrency must be a positive integer, got ${concurrency}`);
  const ready: Entry[] = [];
  /** Per key with a task queued or running: the tasks waiting behind it. */
  const behind = new Map<string, Entry[]>();
  let active = 0;
  let queued = 0;

  function pump(): void {
    while (active < concurrency && ready.length > 0) {
      const entry = ready.shift()!;
      queued--;
      active++;
      void entry.start().finally(() => {
        active--;
        release(entry.key);
        pump();
      });
    }
  }

  function release(key: string | undefined): void {
    if (key === undefined) return;
    const waiting = behind.get(key)!;
    const next = waiting.shift();
    if (next) ready.push(next);
    else behind.delete(key);
  }

  return {
    run<T>(key: string | undefined, task: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const entry: Entry = { key, start: () => Promise.resolve().then(task).then(resolve, reject) };
        queued++;
        if (key !== undefined) {
          const waiting = behind.get(key);
          if (waiting) {
            waiting.push(entry);
            return;
          }
          behind.set(key, []);
        }
        ready.push(entry);
        pump();
      });
    },
    get active() {
      return active;
    },
    get queued() {
      return queued;
    },
  };
}
