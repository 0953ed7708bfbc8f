/**
 * Snapshot summaries with the standard metric keys and Java's running totals (previous totals + added − removed),
 * which engines display and floe's dashboard charts.
 */
import type { DataFile, Operation, Snapshot } from './types.ts';
import { FileContent } from './types.ts';

const TOTALS = [
  'total-records',
  'total-files-size',
  'total-data-files',
  'total-delete-files',
  'total-position-deletes',
  'total-equality-deletes',
] as const;

interface Counts {
  dataFiles: number;
  deleteFiles: number;
  positionDeleteFiles: number;
  equalityDeleteFiles: number;
  records: number;
  size: number;
  positionDeletes: number;
  equalityDeletes: number;
}

function count(files: DataFile[]): Counts {
  const c: Counts = {
    dataFiles: 0,
    deleteFiles: 0,
    positionDeleteFiles: 0,
    equalityDeleteFiles: 0,
    records: 0,
    size: 0,
    positionDeletes: 0,
    equalityDeletes: 0,
  };
  for (const f of files) {
    c.size += f.fileSizeInBytes;
    if (f.content === FileContent.DATA) {
      c.dataFiles++;
      c.records += f.recordCount;
    } else if (f.content === FileContent.POSITION_DELETES) {
      c.deleteFiles++;
      c.positionDeleteFiles++;
      c.positionDeletes += f.recordCount;
    } else {
      c.deleteFiles++;
      c.equalityDeleteFiles++;
      c.equalityDeletes += f.recordCount;
    }
  }
  return c;
}

export interface SummaryInput {
  operation: Operation;
  added: DataFile[];
  removed: DataFile[];
  /** The branch head the new snapshot follows, whose totals are carried forward. */
  previous?: Snapshot;
  /** Distinct partitions touched (Java's `changed-partition-count`). */
  changedPartitions?: number;
  /** Extra keys (`floe.*`, `engine-name`, …), written as given. */
  properties?: Record<string, string>;
  /** Key prefixes copied from the previous summary unless `properties` sets them (state kept across snapshots). */
  carryPrefixes?: string[];
  /**
   * Where carried keys come from: the previous snapshot's retained ancestry, nearest first; each key is taken from the
   * nearest snapshot that has it, so a commit by an engine that does not carry the keys does not end them.
   * Default: the previous snapshot only.
   */
  carryFrom?: Snapshot[];
}

export function buildSummary(input: SummaryInput): Record<string, string> {
  const added = count(input.added);
  const removed = count(input.removed);
  const summary: Record<string, string> = { operation: input.operation };
  const put = (key: string, value: number) => {
    if (value > 0) summary[key] = String(value);
  };
  put('added-data-files', added.dataFiles);
  put('deleted-data-files', removed.dataFiles);
  put('added-delete-files', added.deleteFiles);
  put('added-equality-delete-files', added.equalityDeleteFiles);
  put('removed-equality-delete-files', removed.equalityDeleteFiles);
  put('added-position-delete-files', added.positionDeleteFiles);
  put('removed-position-delete-files', removed.positionDeleteFiles);
  put('removed-delete-files', removed.deleteFiles);
  put('added-records', added.records);
  put('deleted-records', removed.records);
  put('added-files-size', added.size);
  put('removed-files-size', removed.size);
  put('added-position-deletes', added.positionDeletes);
  put('removed-position-deletes', removed.positionDeletes);
  put('added-equality-deletes', added.equalityDeletes);
  put('removed-equality-deletes', removed.equalityDeletes);
  if (input.changedPartitions !== undefined) summary['changed-partition-count'] = String(input.changedPartitions);

  const prev = input.previous?.summary;
  // Java writes totals only when the previous snapshot had them (or there is none); a missing total stays missing.
  const delta: Record<(typeof TOTALS)[number], number> = {
    'total-records': added.records - removed.records,
    'total-files-size': added.size - removed.size,
    'total-data-files': added.dataFiles - removed.dataFiles,
    'total-delete-files': added.deleteFiles - removed.deleteFiles,
    'total-position-deletes': added.positionDeletes - removed.positionDeletes,
    'total-equality-deletes': added.equalityDeletes - removed.equalityDeletes,
  };
  for (const key of TOTALS) {
    if (!input.previous) summary[key] = String(delta[key]);
    else if (prev?.[key] !== undefined && /^-?\d+$/.test(prev[key]))
      summary[key] = String(Number(prev[key]) + delta[key]);
  }
  const carried: Record<string, string> = {};
  for (const snapshot of input.carryFrom ?? (input.previous ? [input.previous] : [])) {
    for (const [key, value] of Object.entries(snapshot.summary)) {
      if (!(key in carried) && (input.carryPrefixes ?? []).some((prefix) => key.startsWith(prefix)))
        carried[key] = value;
    }
  }
  return { ...summary, ...carried, ...(input.properties ?? {}) };
}
