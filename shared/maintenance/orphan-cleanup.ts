/**
 * Orphan-file cleanup across every live Nessie reference: mark what any branch or tag head still reaches
 * (`reachable.ts`), list the warehouse, and delete what is unreachable and older than the grace period. The grace
 * period (default 3 days, Iceberg's) protects in-flight writers, which write data, manifests and blobs before they
 * commit. Never deleted: `deadletter/` (kept for inspection), hidden paths (a segment starting with `_` or `.`, e.g.
 * the maintenance reports under `_floe/`, unless it is a `name=value` partition directory, as Java's
 * `PartitionAwareHiddenPathFilter`), and files under a table with `gc.enabled=false`. A listed file whose path is
 * referenced under another scheme or authority means the listing and the metadata disagree about where the warehouse
 * is: like Java's default `prefixMismatchMode=ERROR`, the run then deletes nothing and reports the conflicts.
 */
import type { Catalog } from '../catalog/table-catalog.ts';
import type { LocatedObject } from '../storage/file-io.ts';
import { locationParts } from './file-locations.ts';
import { createMarker, markClaimChecks, markReferences } from './reachable-files.ts';

export const DEFAULT_GRACE_MS = 3 * 86_400_000;
/** Objects per delete request (S3 DeleteObjects takes up to 1000). */
const DELETE_BATCH = 1000;
const PROTECTED_PREFIXES = ['deadletter/'];

export interface OrphanOptions {
  /** Only objects last modified before `now − olderThanMs` are deleted. Default 3 days. */
  olderThanMs?: number;
  now?: () => number;
  dryRun?: boolean;
  /** Where to look; default the catalog's warehouse. */
  location?: string;
  onProgress?: (message: string) => void;
}

export interface Orphan {
  location: string;
  size: number;
  lastModified: string;
}

export interface OrphanResult {
  listed: number;
  listedBytes: number;
  reachable: number;
  /** Unreachable objects newer than the grace period (kept). */
  young: number;
  /** Objects never considered (deadletter, hidden, tables with gc disabled). */
  protected: number;
  orphans: Orphan[];
  /** Bytes of the orphans (deleted unless dry run). */
  orphanBytes: number;
  deleted: number;
  deletedBytes: number;
  /** Listed paths referenced under another scheme/authority: reported; while there are any, nothing is deleted. */
  conflicts: { location: string; referencedAs: string[] }[];
  errors: string[];
  references: number;
  tables: number;
  blobFilesRead: number;
}

function isProtected(relative: string): boolean {
  if (PROTECTED_PREFIXES.some((p) => relative.startsWith(p))) return true;
  const segments = relative.split('/');
  return segments.some((s) => (s.startsWith('_') || s.startsWith('.')) && !s.includes('='));
}

function under(location: string, prefixes: Set<string>): boolean {
  const { path } = locationParts(location);
  for (const prefix of prefixes) {
    const root = locationParts(prefix).path.replace(/\/?$/, '/');
    if (path.startsWith(root)) return true;
  }
  return false;
}

export async function removeOrphanFiles(catalog: Catalog, options: OrphanOptions = {}): Promise<OrphanResult> {
  const io = catalog.io;
  const now = (options.now ?? Date.now)();
  const cutoff = now - (options.olderThanMs ?? DEFAULT_GRACE_MS);
  const root = options.location ?? catalog.warehouse;
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const progress = options.onProgress ?? (() => undefined);

  const marker = createMarker(io);
  await markReferences(marker, catalog.client, (ref, table) => progress(`marking ${table} at ${ref}`));
  progress(`marked ${marker.files} files of ${marker.tables} table heads on ${marker.references} references`);

  const result: OrphanResult = {
    listed: 0,
    listedBytes: 0,
    reachable: 0,
    young: 0,
    protected: 0,
    orphans: [],
    orphanBytes: 0,
    deleted: 0,
    deletedBytes: 0,
    conflicts: [],
    errors: [],
    references: marker.references,
    tables: marker.tables,
    blobFilesRead: 0,
  };
  const candidates: LocatedObject[] = [];
  for await (const object of io.list(prefix)) {
    result.listed++;
    result.listedBytes += object.size;
    if (result.listed % 10_000 === 0) progress(`listed ${result.listed} objects`);
    if (isProtected(object.location.slice(prefix.length)) || under(object.location, marker.gcDisabled)) {
      result.protected++;
      continue;
    }
    const match = marker.reachable.match(object.location);
    if (match.kind === 'reachable') result.reachable++;
    else if (match.kind === 'conflict')
      result.conflicts.push({ location: object.location, referencedAs: match.referencedAs });
    else if (object.lastModified.getTime() >= cutoff) result.young++;
    else candidates.push(object);
  }

  let orphans = candidates;
  if (candidates.length && marker.claimCheckFiles.size) {
    progress(`reading claim-check columns of ${marker.claimCheckFiles.size} data files`);
    result.blobFilesRead = (await markClaimChecks(marker)).filesRead;
    orphans = candidates.filter((o) => {
      const match = marker.reachable.match(o.location);
      if (match.kind === 'reachable') result.reachable++;
      if (match.kind === 'conflict') result.conflicts.push({ location: o.location, referencedAs: match.referencedAs });
      return match.kind === 'unreachable';
    });
  }
  for (const conflict of result.conflicts.slice(0, 20)) {
    result.errors.push(
      `${conflict.location} is referenced as ${conflict.referencedAs.join(', ')} (scheme/authority mismatch)`,
    );
  }
  if (result.conflicts.length) {
    result.errors.push(
      `${result.conflicts.length} listed file(s) are referenced under another scheme or authority: nothing was deleted; check the warehouse location`,
    );
  }
  result.orphans = orphans.map((o) => ({
    location: o.location,
    size: o.size,
    lastModified: o.lastModified.toISOString(),
  }));
  result.orphanBytes = orphans.reduce((s, o) => s + o.size, 0);
  if (options.dryRun || !orphans.length || result.conflicts.length) return result;

  const sizes = new Map(orphans.map((o) => [o.location, o.size]));
  for (let i = 0; i < orphans.length; i += DELETE_BATCH) {
    const batch = orphans.slice(i, i + DELETE_BATCH).map((o) => o.location);
    const { deleted, failed } = await io.deleteMany(batch);
    result.deleted += deleted.length;
    result.deletedBytes += deleted.reduce((s, l) => s + (sizes.get(l) ?? 0), 0);
    for (const f of failed) result.errors.push(`could not delete ${f.location}: ${f.message}`);
    progress(`deleted ${result.deleted} of ${orphans.length} orphans`);
  }
  return result;
}
