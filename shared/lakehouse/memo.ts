/**
 * A short-lived memo for the dashboard's views. Polling pages share one computation per key and time window, and
 * concurrent requests for the same key wait on the same promise instead of each asking Nessie again. Inputs that never
 * change (a commit hash, a manifest list, a data file) are memoized without expiry, bounded by an LRU size.
 * A failed computation is dropped at once, so the next poll retries it.
 */
export interface Memo {
  get<T>(key: string, ttlMs: number, compute: () => Promise<T>): Promise<T>;
}

export interface MemoOptions {
  maxEntries?: number;
  now?: () => number;
}

export function createMemo(options: MemoOptions = {}): Memo {
  const maxEntries = options.maxEntries ?? 5000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { expires: number; value: Promise<unknown> }>();
  return {
    get<T>(key: string, ttlMs: number, compute: () => Promise<T>): Promise<T> {
      const hit = entries.get(key);
      if (hit && hit.expires > now()) {
        // Re-insert so the map's order is least recently used first.
        entries.delete(key);
        entries.set(key, hit);
        return hit.value as Promise<T>;
      }
      const entry = { expires: now() + ttlMs, value: compute() as Promise<unknown> };
      entries.delete(key);
      entries.set(key, entry);
      entry.value.catch(() => {
        if (entries.get(key) === entry) entries.delete(key);
      });
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
      return entry.value as Promise<T>;
    },
  };
}
