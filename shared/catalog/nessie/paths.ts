/**
 * How references and content keys are written in Nessie v2 URLs (`api/NESSIE-SPEC-2-0.md`, reference/nessie/API.md §0).
 *
 * Keys: elements joined with `.`; spec 2.2 servers also take the "escaped" form that starts with `.` and escapes
 * `.` `*` `/` `\` `%` inside elements (needed because some servlet containers reject `%2F`, `%5C`, `%25`, `%1D`).
 * The legacy form writes a `.` inside an element as U+001D. Both forms are decoded.
 *
 * References: `name`, `name@hash`, `@hash`, `-` (default branch), each optionally followed by relative parts `~N`
 * (N-th predecessor), `^N` (N-th parent) and `*T` (newest commit at or before a time). A name containing `/` must be
 * followed by `@` (`wap/job-42@`), because the server's path pattern only lets `/` through before an `@`.
 */

/** The hash of the empty repository: the "beginning of time" every history starts from. */
export const NO_ANCESTOR_HASH = '2e1cfa82b035c26cbbbdae632cea070514eb8b773f616aaeaf668e2f0be8f10d';

const REF_NAME_RAW = '[A-Za-z](?:(?:(?![.][.])[A-Za-z0-9./_-])*[A-Za-z0-9_-])?';
const HASH_RAW = '[0-9a-fA-F]{8,64}';
const RELATIVE_RAW = '([~*^])([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.][0-9]{1,9})?Z|[0-9]+)';

export const REF_NAME_PATTERN = new RegExp(`^${REF_NAME_RAW}$`);
export const HASH_PATTERN = new RegExp(`^${HASH_RAW}$`);
const REF_PATH_PATTERN = new RegExp(`^(${REF_NAME_RAW}|-)?(?:@(${HASH_RAW})?)?((?:${RELATIVE_RAW})*)$`);
const RELATIVE_PART = new RegExp(RELATIVE_RAW, 'g');

export const REF_NAME_RULE =
  "start with a letter, followed by letters, digits, one of the ./_- characters, not end with a slash or dot, not contain '..'";

export function isForbiddenRefName(name: string): boolean {
  const upper = name.toUpperCase();
  return upper === 'HEAD' || upper === 'DETACHED' || HASH_PATTERN.test(name);
}

export type RelativeSpec = { kind: '~' | '^'; n: number } | { kind: '*'; timeMs: number };

export interface ParsedRefPath {
  /** Undefined for a detached `@hash`; `-` is returned as is (the caller knows the default branch). */
  name?: string;
  hash?: string;
  relative: RelativeSpec[];
}

/** Parses a reference path element (already URL-decoded); `undefined` if it is not one. */
export function parseRefPath(text: string): ParsedRefPath | undefined {
  const match = REF_PATH_PATTERN.exec(text);
  if (!match || (!match[1] && !match[2] && !match[3])) return undefined;
  const relative: RelativeSpec[] = [];
  for (const part of match[3].matchAll(RELATIVE_PART)) {
    const [, kind, value] = part;
    if (kind === '*') {
      const timeMs = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
      if (!Number.isFinite(timeMs)) return undefined;
      relative.push({ kind: '*', timeMs });
    } else {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n <= 0 || n >= 2 ** 31 - 1) return undefined;
      relative.push({ kind: kind as '~' | '^', n });
    }
  }
  return { name: match[1] || undefined, hash: match[2]?.toLowerCase(), relative };
}

/**
 * The path element for `name` at `hash` (either may be absent), before URL encoding. `@` is added when a hash follows
 * or the name contains `/` (like Java's `Util.toPathStringRef`).
 */
export function refPathElement(name: string | undefined, hash?: string): string {
  const needsAt = (hash !== undefined && hash !== '' && /^[0-9a-fA-F]/.test(hash)) || (name?.includes('/') ?? false);
  return `${name ?? ''}${needsAt ? '@' : ''}${hash ?? ''}`;
}

/**
 * A caller's reference string (`main`, `wap/job-42`, `main@<hash>`, `wap/job-42~1`, `@<hash>`) made safe for a URL
 * path: names with `/` get their `@`, then the whole element is URL-encoded as one segment.
 */
export function encodeRef(ref: string): string {
  if (ref.includes('@')) return encodeURIComponent(ref);
  const relativeAt = ref.search(/[~^*]/);
  const name = relativeAt < 0 ? ref : ref.slice(0, relativeAt);
  const rest = relativeAt < 0 ? '' : ref.slice(relativeAt);
  return encodeURIComponent(name.includes('/') ? `${name}@${rest}` : ref);
}

/** The spec-2.2 escaped key form; plain `a.b.c` when no element needs escaping. */
export function keyToPathString(elements: readonly string[]): string {
  if (!elements.some((e) => /[./\\%]/.test(e))) return elements.join('.');
  const escapes: Record<string, string> = { '.': '*.', '*': '**', '/': '*{', '\\': '*}', '%': '*[' };
  return elements.map((e) => `.${e.replace(/[.*/\\%]/g, (c) => escapes[c])}`).join('');
}

/** The legacy key form every server version takes: a `.` (or NUL) inside an element becomes U+001D. */
export function keyToLegacyPathString(elements: readonly string[]): string {
  // eslint-disable-next-line no-control-regex -- Nessie's key rules and legacy encoding are about control characters
  return elements.map((e) => e.replace(/[.\u0000]/g, '\u001d')).join('.');
}

/** Decodes either key form. Throws `SyntaxError` on a bad escape. */
export function keyFromPathString(text: string): string[] {
  // eslint-disable-next-line no-control-regex -- Nessie's key rules and legacy encoding are about control characters
  if (!text.startsWith('.')) return text.split('.').map((e) => e.replace(/[\u001d\u0000]/g, '.'));
  const unescapes: Record<string, string> = { '.': '.', '*': '*', '{': '/', '}': '\\', '[': '%' };
  const elements: string[] = [];
  let current = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (c === '.') {
      elements.push(current);
      current = '';
    } else if (c === '*') {
      const next = text[++i];
      const replacement = next === undefined ? undefined : unescapes[next];
      if (replacement === undefined) throw new SyntaxError(`bad escape '*${next ?? ''}' in content key '${text}'`);
      current += replacement;
    } else {
      current += c;
    }
  }
  elements.push(current);
  return elements;
}
