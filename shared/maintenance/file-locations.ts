/**
 * Comparing the locations table metadata records with the locations a listing returns, as Iceberg Java's orphan
 * removal does (`FileURI`): by path, with scheme and authority compared separately — `s3a`/`s3n` count as `s3`, and a
 * recorded location without a scheme or authority matches any. The same path under a different scheme or authority
 * is a conflict to report, never a file to delete.
 */

export interface LocationParts {
  /** Lower-case, `s3a`/`s3n` normalised to `s3`; empty when the location has none. */
  scheme: string;
  authority: string;
  path: string;
}

const EQUAL_SCHEMES: Record<string, string> = { s3a: 's3', s3n: 's3' };

export function locationParts(location: string): LocationParts {
  const full = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(.*)$/i.exec(location);
  if (full) {
    const scheme = full[1].toLowerCase();
    return { scheme: EQUAL_SCHEMES[scheme] ?? scheme, authority: full[2], path: full[3] || '/' };
  }
  // Hadoop writes `file:/dir/x` (no authority)
  const short = /^([a-z][a-z0-9+.-]*):(\/.*)$/i.exec(location);
  if (short) {
    const scheme = short[1].toLowerCase();
    return { scheme: EQUAL_SCHEMES[scheme] ?? scheme, authority: '', path: short[2] };
  }
  return { scheme: '', authority: '', path: location };
}

export type Match = { kind: 'reachable' } | { kind: 'unreachable' } | { kind: 'conflict'; referencedAs: string[] };

/** Recorded locations indexed by path, for matching listed objects. */
export interface LocationIndex {
  /** Records a location; false if it was already recorded. */
  add(location: string): boolean;
  match(listed: string): Match;
  readonly size: number;
}

export function locationIndex(): LocationIndex {
  const byPath = new Map<string, string[]>();
  let size = 0;
  const key = (p: LocationParts) => `${p.scheme}://${p.authority}`;
  return {
    add(location) {
      const parts = locationParts(location);
      const roots = byPath.get(parts.path);
      const root = key(parts);
      if (!roots) byPath.set(parts.path, [root]);
      else if (!roots.includes(root)) roots.push(root);
      else return false;
      size++;
      return true;
    },
    match(listed) {
      const parts = locationParts(listed);
      const roots = byPath.get(parts.path);
      if (!roots) return { kind: 'unreachable' };
      const matches = roots.some((root) => {
        const [scheme, authority] = root.split('://');
        return (!scheme || scheme === parts.scheme) && (!authority || authority === parts.authority);
      });
      return matches
        ? { kind: 'reachable' }
        : { kind: 'conflict', referencedAs: roots.map((r) => `${r}${parts.path}`) };
    },
    get size() {
      return size;
    },
  };
}
