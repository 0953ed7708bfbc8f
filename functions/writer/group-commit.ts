/**
 * Group commit: requests join the open batch of their key (the topic) and wait until that batch is durably
 * committed; a batch closes on rows, bytes or linger time, whichever comes first. Every waiter of a batch gets the
 * batch's result, or its error (so every request is answered only after its record is safe, or failed).
 */
export interface BatcherOptions<T, R> {
  maxRows: number;
  maxBytes: number;
  lingerMs: number;
  flush(key: string, items: T[]): Promise<R>;
}

interface OpenBatch<T, R> {
  items: T[];
  bytes: number;
  waiters: { resolve(result: R): void; reject(error: unknown): void }[];
  timer?: NodeJS.Timeout;
}

export interface Batcher<T, R> {
  add(key: string, item: T, bytes: number): Promise<R>;
  /** Closes every open batch now and waits for all flushes to finish. */
  drain(): Promise<void>;
  /** Items waiting in open batches, and flushes under way. */
  stats(): { open: number; pendingItems: number; flushing: number };
}

export function createBatcher<T, R>(options: BatcherOptions<T, R>): Batcher<T, R> {
  const open = new Map<string, OpenBatch<T, R>>();
  const flushing = new Set<Promise<void>>();

  function close(key: string): void {
    const batch = open.get(key);
    if (!batch) return;
    open.delete(key);
    if (batch.timer) clearTimeout(batch.timer);
    const running = options.flush(key, batch.items).then(
      (result) => batch.waiters.forEach((w) => w.resolve(result)),
      (error) => batch.waiters.forEach((w) => w.reject(error)),
    );
    flushing.add(running);
    void running.finally(() => flushing.delete(running));
  }

  return {
    add(key, item, bytes) {
      return new Promise<R>((resolve, reject) => {
        let batch = open.get(key);
        if (!batch) {
          batch = { items: [], bytes: 0, waiters: [] };
          open.set(key, batch);
          batch.timer = setTimeout(() => close(key), options.lingerMs);
        }
        batch.items.push(item);
        batch.bytes += bytes;
        batch.waiters.push({ resolve, reject });
        if (batch.items.length >= options.maxRows || batch.bytes >= options.maxBytes) close(key);
      });
    },
    async drain() {
      for (const key of [...open.keys()]) close(key);
      while (flushing.size) await Promise.allSettled([...flushing]);
    },
    stats() {
      let pendingItems = 0;
      for (const batch of open.values()) pendingItems += batch.items.length;
      return { open: open.size, pendingItems, flushing: flushing.size };
    },
  };
}
