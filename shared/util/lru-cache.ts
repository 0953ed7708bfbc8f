/**
 * A least-recently-used cache of values loaded asynchronously (parsed metadata files, bloom filters, manifest
 * entries: files that never change once written), bounded by a weight budget — bytes, rows, whatever `weigh` counts —
 * and optionally by a number of entries.
 *
 * Callers that ask for a key while it loads share that one load, so a burst of requests for a new file reads and
 * parses it once. A failed load is not kept (the next caller tries again). A value is weighed once loaded; a value
 * heavier than the whole budget is returned to its callers but not kept, so one huge file cannot empty the cache.
 */
export interface LruCache<V> {
  /** The cached value of `key`, or the value `load` gives (shared with concurrent callers of the same key). */
  get(key: string, load: () => Promise<V>): Promise<V>;
  /** Loaded entries kept, and their total weight. */
  readonly size: { entries: number; weight: number };
  readonly maxWeight: number;
  /** Gets answered from the cache (or from a load in flight), and gets that started a load. */
  readonly hits: number;
  readonly misses: number;
  /** Sets the weight budget, evicting what no longer fits. */
  resize(maxWeight: number): void;
  /** Forgets everything (what a fresh process starts with). */
  clear(): void;
}

export interface LruCacheOptions<V> {
  maxWeight: number;
  maxEntries?: number;
  weigh(value: V): number;
}

interface Entry<V> {
  value: Promise<V>;
  /** Undefined while loading: a load in flight is neither counted nor evicted. */
  weight?: number;
}

export function createLruCache<V>(options: LruCacheOptions<V>): LruCache<V> {
  const entries = new Map<string, Entry<V>>();
  let maxWeight = options.maxWeight;
  const maxEntries = options.maxEntries ?? Infinity;
  let weight = 0;
  let loaded = 0;
  let hits = 0;
  let misses = 0;

  function forget(key: string, entry: Entry<V>): void {
    entries.delete(key);
    if (entry.weight === undefined) return;
    weight -= entry.weight;
    loaded--;
  }

  function evict(): void {
    for (const [key, entry] of entries) {
      if (weight <= maxWeight && loaded <= maxEntries) return;
      if (entry.weight !== undefined) forget(key, entry);
    }
  }

  function settle(key: string, entry: Entry<V>, value: V): void {
    if (entries.get(key) !== entry) return; // cleared or replaced meanwhile
    const heft = options.weigh(value);
    if (heft > maxWeight) {
      entries.delete(key);
      return;
    }
    entry.weight = heft;
    weight += heft;
    loaded++;
    evict();
  }

  return {
    get(key, load) {
      const hit = entries.get(key);
      if (hit) {
        hits++;
        entries.delete(key);
        entries.set(key, hit);
        return hit.value;
      }
      misses++;
      // A load that throws at once rejects like one that fails later.
      const entry: Entry<V> = { value: new Promise<V>((resolve) => resolve(load())) };
      entries.set(key, entry);
      entry.value.then(
        (value) => settle(key, entry, value),
        () => {
          if (entries.get(key) === entry) entries.delete(key);
        },
      );
      return entry.value;
    },
    get size() {
      return { entries: loaded, weight };
    },
    get maxWeight() {
      return maxWeight;
    },
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
    resize(limit) {
      maxWeight = limit;
      evict();
    },
    clear() {
      entries.clear();
      weight = 0;
      loaded = 0;
    },
  };
}
