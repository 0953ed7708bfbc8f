/**
 * The live data files of a table's current snapshot and their size distribution — the small-files problem at a
 * glance. "Small" is what a bin-pack compaction would pick up: below 75 % of the table's target file size (Iceberg's
 * rewriteDataFiles `min-file-size-bytes` default). Memoized per manifest list, which never changes.
 */
import { currentSnapshot } from '../iceberg/metadata.ts';
import { readManifestEntries, readManifestFiles } from '../iceberg/snapshot.ts';
import { EntryStatus, FileContent, ManifestContent, type TableMetadata } from '../iceberg/types.ts';
import { FOREVER, type ReadContext } from './read-context.ts';

export interface SizeBucket {
  label: string;
  minBytes: number;
  /** Exclusive; null for the last bucket. */
  maxBytes: number | null;
  count: number;
}

export interface FileStats {
  dataFiles: number;
  deleteFiles: number;
  bytes: number;
  averageBytes: number | null;
  targetBytes: number;
  smallThresholdBytes: number;
  smallFiles: number;
  histogram: SizeBucket[];
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** Bucket edges, ×4 apart, from 16 KiB to 256 MiB. */
const EDGES = [16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB];
const DEFAULT_TARGET_BYTES = 512 * MiB;

function sizeText(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`;
}

function emptyHistogram(): SizeBucket[] {
  return [0, ...EDGES].map((min, i) => ({
    label:
      i === 0
        ? `< ${sizeText(EDGES[0])}`
        : i === EDGES.length
          ? `≥ ${sizeText(min)}`
          : `${sizeText(min)} – ${sizeText(EDGES[i])}`,
    minBytes: min,
    maxBytes: i < EDGES.length ? EDGES[i] : null,
    count: 0,
  }));
}

export function targetFileSize(metadata: TableMetadata): number {
  const text = metadata.properties['write.target-file-size-bytes'];
  return text && /^\d+$/.test(text) ? Number(text) : DEFAULT_TARGET_BYTES;
}

export async function fileStats(ctx: ReadContext, metadata: TableMetadata): Promise<FileStats> {
  const snapshot = currentSnapshot(metadata);
  const targetBytes = targetFileSize(metadata);
  const smallThresholdBytes = Math.floor(targetBytes * 0.75);
  const compute = async (): Promise<FileStats> => {
    const histogram = emptyHistogram();
    const stats: FileStats = {
      dataFiles: 0,
      deleteFiles: 0,
      bytes: 0,
      averageBytes: null,
      targetBytes,
      smallThresholdBytes,
      smallFiles: 0,
      histogram,
    };
    for (const manifest of await readManifestFiles(ctx.io, snapshot)) {
      if (manifest.content === ManifestContent.DELETES) {
        stats.deleteFiles += manifest.addedFilesCount + manifest.existingFilesCount;
        continue;
      }
      for (const entry of await readManifestEntries(ctx.io, manifest, metadata)) {
        if (entry.status === EntryStatus.DELETED || entry.dataFile.content !== FileContent.DATA) continue;
        const size = entry.dataFile.fileSizeInBytes;
        stats.dataFiles++;
        stats.bytes += size;
        if (size < smallThresholdBytes) stats.smallFiles++;
        histogram[EDGES.filter((edge) => size >= edge).length].count++;
      }
    }
    stats.averageBytes = stats.dataFiles ? Math.round(stats.bytes / stats.dataFiles) : null;
    return stats;
  };
  if (!snapshot) return compute();
  return ctx.memo.get(`files:${snapshot.manifestList}:${targetBytes}`, FOREVER, compute);
}
