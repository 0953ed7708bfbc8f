/**
 * Merge on append (Iceberg Java's `ManifestMergeManager`, used by `MergeAppend` and every merging producer): without
 * it each commit adds a manifest and planning reads ever more small files until a manifest rewrite. Per partition
 * spec (newest spec first) the manifests of the new snapshot are bin-packed from the end toward
 * `commit.manifest.target-size-bytes`, so the bin left under-filled is the newest one and is topped up by later
 * commits; every bin of two or more manifests is merged into one, except the bin holding the snapshot's first manifest
 * while it has fewer than `commit.manifest.min-count-to-merge` manifests (so a large old manifest never forces small
 * new ones to be rewritten on every commit). The manifest count per spec therefore stays below min-count plus the
 * number of full-size manifests.
 *
 * Merged entries keep what they were: this snapshot's ADDED files stay ADDED, its DELETED entries stay DELETED, other
 * DELETED entries are dropped (they were deleted by an earlier snapshot), and every other entry becomes EXISTING with
 * its own snapshot id, data and file sequence numbers — so scans, sequence-number based delete matching and the
 * per-snapshot "files added by S" lookups read the same as before the merge.
 */
import type { FileIO } from '../storage/file-io.ts';
import { ValidationError } from './commit.ts';
import { readManifest, summarizeManifest, writeManifest } from './manifest.ts';
import { UNASSIGNED_SEQUENCE_NUMBER } from './manifest-list.ts';
import { currentSchema, specById } from './metadata.ts';
import { EntryStatus, ManifestContent, type ManifestEntry, type ManifestFile, type TableMetadata } from './types.ts';

export const MANIFEST_MERGE_ENABLED_PROPERTY = 'commit.manifest-merge.enabled';
export const MANIFEST_MIN_MERGE_COUNT_PROPERTY = 'commit.manifest.min-count-to-merge';
export const MANIFEST_TARGET_SIZE_PROPERTY = 'commit.manifest.target-size-bytes';
export const DEFAULT_MANIFEST_MIN_MERGE_COUNT = 100;
export const DEFAULT_MANIFEST_TARGET_SIZE = 8 * 1024 * 1024;

export interface ManifestMergeSettings {
  enabled: boolean;
  minCountToMerge: number;
  targetSizeBytes: number;
}

/** The merge settings from the table properties, with Iceberg's defaults (enabled, 100 manifests, 8 MiB). */
export function manifestMergeSettings(metadata: TableMetadata): ManifestMergeSettings {
  const number = (key: string, fallback: number, min: number) => {
    const text = metadata.properties[key];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < min)
      throw new ValidationError(`table property ${key}='${text}' is not an integer ≥ ${min}`);
    return value;
  };
  const enabled = (metadata.properties[MANIFEST_MERGE_ENABLED_PROPERTY] ?? 'true').trim().toLowerCase() !== 'false';
  return {
    enabled,
    minCountToMerge: number(MANIFEST_MIN_MERGE_COUNT_PROPERTY, DEFAULT_MANIFEST_MIN_MERGE_COUNT, 0),
    targetSizeBytes: number(MANIFEST_TARGET_SIZE_PROPERTY, DEFAULT_MANIFEST_TARGET_SIZE, 1),
  };
}

/**
 * Java `BinPacking.ListPacker(target, lookback 1, largestBinFirst false).packEnd`: packs from the last item backwards
 * into one open bin at a time, so items keep their order and only the first bin may be under-filled.
 */
export function packEnd<T>(items: T[], weight: (item: T) => number, target: number): T[][] {
  const bins: T[][] = [];
  let current: T[] | undefined;
  let currentWeight = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const w = weight(items[i]);
    if (current && currentWeight + w <= target) {
      current.push(items[i]);
      currentWeight += w;
    } else {
      if (current) bins.push(current);
      current = [items[i]];
      currentWeight = w;
    }
  }
  if (current) bins.push(current);
  return bins.map((bin) => bin.reverse()).reverse();
}

export interface MergeContext {
  io: FileIO;
  base: TableMetadata;
  snapshotId: bigint;
  /** Where a new manifest goes (unique per call). */
  newManifestPath: () => string;
}

/**
 * One producer's merge state: merged manifests are cached by the bin they came from, so a retried commit whose bins
 * did not change writes nothing again (Java's `mergedManifests`). Manifests this producer wrote and has not committed
 * yet (unassigned sequence number) are read from `pending` rather than from storage: their inherited sequence numbers
 * are not known until the manifest list is written.
 */
export class ManifestMerger {
  private readonly cache = new Map<string, ManifestFile>();
  private readonly pending = new Map<string, ManifestEntry[]>();
  private readonly io: FileIO;

  constructor(io: FileIO) {
    this.io = io;
  }

  /** Records the entries of a manifest written for the snapshot being made. */
  written(manifest: ManifestFile, entries: ManifestEntry[]): void {
    this.pending.set(manifest.manifestPath, entries);
  }

  /**
   * The manifests of the new snapshot after merging, data manifests then delete manifests (each kind merged on its
   * own, its first manifest being the snapshot's newest of that kind). Merged manifests of earlier attempts that the
   * new bins no longer use are deleted: those attempts were never committed.
   */
  async merge(
    ctx: MergeContext,
    manifests: ManifestFile[],
    settings = manifestMergeSettings(ctx.base),
  ): Promise<ManifestFile[]> {
    const data = manifests.filter((m) => m.content === ManifestContent.DATA);
    const deletes = manifests.filter((m) => m.content === ManifestContent.DELETES);
    const used = new Set<string>();
    const out = [
      ...(await this.mergeKind(ctx, data, settings, used)),
      ...(await this.mergeKind(ctx, deletes, settings, used)),
    ];
    const stale = [...this.cache].filter(([key]) => !used.has(key));
    for (const [key] of stale) this.cache.delete(key);
    if (stale.length) await this.io.deleteMany(stale.map(([, m]) => m.manifestPath)).catch(() => undefined);
    return out;
  }

  private async mergeKind(
    ctx: MergeContext,
    manifests: ManifestFile[],
    settings: ManifestMergeSettings,
    used: Set<string>,
  ): Promise<ManifestFile[]> {
    if (!settings.enabled || manifests.length === 0) return manifests;
    const first = manifests[0];
    const bySpec = new Map<number, ManifestFile[]>();
    for (const m of manifests) {
      const group = bySpec.get(m.partitionSpecId) ?? [];
      group.push(m);
      bySpec.set(m.partitionSpecId, group);
    }
    const out: ManifestFile[] = [];
    for (const specId of [...bySpec.keys()].sort((a, b) => b - a)) {
      for (const bin of packEnd(bySpec.get(specId)!, (m) => m.manifestLength, settings.targetSizeBytes)) {
        if (bin.length === 1 || (bin.includes(first) && bin.length < settings.minCountToMerge)) {
          out.push(...bin);
          continue;
        }
        const key = bin.map((m) => m.manifestPath).join('\n');
        used.add(key);
        let merged = this.cache.get(key);
        if (!merged) {
          merged = await this.writeMerged(ctx, specId, bin);
          this.cache.set(key, merged);
        }
        out.push(merged);
      }
    }
    return out;
  }

  private async entriesOf(ctx: MergeContext, manifest: ManifestFile): Promise<ManifestEntry[]> {
    const pending = this.pending.get(manifest.manifestPath);
    if (pending) return pending;
    if (manifest.sequenceNumber === UNASSIGNED_SEQUENCE_NUMBER)
      throw new ValidationError(`cannot merge manifest ${manifest.manifestPath}: its sequence number is not assigned`);
    const bytes = await this.io.read(manifest.manifestPath);
    return readManifest(bytes, manifest.manifestPath, {
      manifestFile: manifest,
      specsById: new Map(ctx.base.partitionSpecs.map((s) => [s.specId, s])),
      schema: currentSchema(ctx.base),
    }).entries;
  }

  private async writeMerged(ctx: MergeContext, specId: number, bin: ManifestFile[]): Promise<ManifestFile> {
    const { snapshotId } = ctx;
    const entries: ManifestEntry[] = [];
    for (const manifest of bin) {
      for (const e of await this.entriesOf(ctx, manifest)) {
        const own = e.snapshotId === snapshotId;
        if (e.status === EntryStatus.DELETED) {
          // Deleted by an earlier snapshot: already accounted for there, not carried forward.
          if (own) entries.push(e);
        } else if (e.status === EntryStatus.ADDED && own) {
          entries.push(e);
        } else {
          entries.push({
            status: EntryStatus.EXISTING,
            snapshotId: e.snapshotId,
            sequenceNumber: e.sequenceNumber,
            fileSequenceNumber: e.fileSequenceNumber,
            dataFile: e.dataFile,
          });
        }
      }
    }
    const spec = specById(ctx.base, specId);
    const schema = currentSchema(ctx.base);
    const content = bin[0].content;
    const bytes = writeManifest({ spec, schema, formatVersion: 2, content, entries, snapshotId });
    const path = ctx.newManifestPath();
    await this.io.write(path, bytes);
    const merged = summarizeManifest({ path, length: bytes.byteLength, spec, schema, content, snapshotId, entries });
    this.pending.set(path, entries);
    return merged;
  }
}
