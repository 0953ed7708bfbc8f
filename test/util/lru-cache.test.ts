/**
 * The shared LRU of immutable files' parsed forms: weight and entry budgets, least recently used out first, one load
 * per key however many callers wait for it, failed loads forgotten, over-budget values returned but not kept.
 */
import { describe, expect, it } from 'vitest';
import { createLruCache } from '../../shared/util/lru-cache.ts';

/** A cache of strings weighed by length, and a loader that records what it loaded. */
function stringCache(maxWeight: number, maxEntries?: number) {
  const loads: string[] = [];
  const cache = createLruCache<string>({ maxWeight, maxEntries, weigh: (value) => value.length });
  const load = (key: string, value: string) => () => {
    loads.push(key);
    return Promise.resolve(value);
  };
  return { cache, loads, load };
}

describe('LRU cache', () => {
  it('keeps values within the weight budget, evicting the least recently used first', async () => {
    const { cache, loads, load } = stringCache(10);
    await cache.get('a', load('a', 'aaaa'));
    await cache.get('b', load('b', 'bbbb'));
    expect(await cache.get('a', load('a', 'never'))).toBe('aaaa'); // a is now the most recently used
    await cache.get('c', load('c', 'cccc')); // 12 > 10: b goes
    expect(cache.size).toEqual({ entries: 2, weight: 8 });
    await cache.get('a', load('a', 'never'));
    await cache.get('b', load('b', 'bbbb'));
    expect(loads).toEqual(['a', 'b', 'c', 'b']);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 4 });
  });

  it('keeps at most maxEntries values', async () => {
    const { cache, loads, load } = stringCache(1000, 2);
    for (const key of ['a', 'b', 'c']) await cache.get(key, load(key, key));
    expect(cache.size).toEqual({ entries: 2, weight: 2 });
    await cache.get('a', load('a', 'a'));
    expect(loads).toEqual(['a', 'b', 'c', 'a']);
  });

  it('shares one load among concurrent callers of a key', async () => {
    const { cache } = stringCache(100);
    let release!: (value: string) => void;
    let loads = 0;
    const slow = () => {
      loads++;
      return new Promise<string>((resolve) => (release = resolve));
    };
    const waiting = [cache.get('k', slow), cache.get('k', slow), cache.get('k', slow)];
    expect(cache.size).toEqual({ entries: 0, weight: 0 }); // a load in flight is not counted yet
    release('value');
    expect(await Promise.all(waiting)).toEqual(['value', 'value', 'value']);
    expect(loads).toBe(1);
    expect(cache.size).toEqual({ entries: 1, weight: 5 });
  });

  it('forgets a failed load, whether it throws at once or rejects later, so the next caller loads again', async () => {
    const { cache, load, loads } = stringCache(100);
    await expect(
      cache.get('k', () => {
        throw new Error('at once');
      }),
    ).rejects.toThrow('at once');
    await expect(cache.get('k', () => Promise.reject(new Error('later')))).rejects.toThrow('later');
    expect(await cache.get('k', load('k', 'ok'))).toBe('ok');
    expect(loads).toEqual(['k']);
  });

  it('returns a value heavier than the whole budget without keeping it or evicting the others', async () => {
    const { cache, loads, load } = stringCache(10);
    await cache.get('small', load('small', 'ss'));
    expect(await cache.get('huge', load('huge', 'x'.repeat(11)))).toHaveLength(11);
    expect(cache.size).toEqual({ entries: 1, weight: 2 });
    await cache.get('huge', load('huge', 'x'.repeat(11)));
    await cache.get('small', load('small', 'never'));
    expect(loads).toEqual(['small', 'huge', 'huge']);
  });

  it('evicts down to a smaller budget on resize, and forgets everything on clear', async () => {
    const { cache, load } = stringCache(100);
    for (const key of ['a', 'b', 'c']) await cache.get(key, load(key, 'xxxx'));
    cache.resize(8);
    expect(cache.maxWeight).toBe(8);
    expect(cache.size).toEqual({ entries: 2, weight: 8 });
    cache.clear();
    expect(cache.size).toEqual({ entries: 0, weight: 0 });
  });

  it('does not keep a load that finishes after a clear', async () => {
    const { cache } = stringCache(100);
    let release!: (value: string) => void;
    const pending = cache.get('k', () => new Promise<string>((resolve) => (release = resolve)));
    cache.clear();
    release('late');
    expect(await pending).toBe('late');
    expect(cache.size).toEqual({ entries: 0, weight: 0 });
  });
});
