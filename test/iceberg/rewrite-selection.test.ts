/**
 * The rewrite's file selection as a pure function over file lists: Java's rule for closed partitions, size tiers for
 * a partition still filling, and over a simulated day of hourly ticks how often each row is written again.
 */
import { describe, expect, it } from 'vitest';
import {
  expectedOutputFiles,
  partitionClosed,
  selectFileGroups,
  sizeTiers,
  tierSpread,
  type BinPackSettings,
} from '../../shared/iceberg/rewrite-selection.ts';
import type { FileScanTask } from '../../shared/iceberg/scan.ts';
import { FileContent, type PartitionSpec } from '../../shared/iceberg/types.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 2026-11-02, as days since the epoch: the value a `day(timestamp)` partition holds. */
const DAY_VALUE = Date.UTC(2026, 10, 2) / DAY;

const DAY_SPEC: PartitionSpec = {
  specId: 0,
  fields: [{ sourceId: 2, fieldId: 1000, name: 'timestamp_day', transform: 'day' }],
};

/** Iceberg Java's defaults for a 512 MiB target, as `binPackSettings` derives them. */
function settings(overrides: Partial<BinPackSettings> = {}): BinPackSettings {
  const target = 512 * MIB;
  return {
    'target-file-size-bytes': target,
    'min-file-size-bytes': Math.floor(target * 0.75),
    'max-file-size-bytes': Math.floor(target * 1.8),
    'min-input-files': 5,
    'max-file-group-size-bytes': 100 * 1024 * MIB,
    'delete-file-threshold': 2 ** 31 - 1,
    'delete-ratio-threshold': 0.3,
    'rewrite-all': false,
    ...overrides,
  };
}

let counter = 0;
function file(bytes: number, options: { name?: string; deletedRows?: number } = {}): FileScanTask {
  const filePath = `file:///wh/t/data/timestamp_day=2026-11-02/${options.name ?? `f${++counter}`}.parquet`;
  const recordCount = Math.max(1, Math.round(bytes / 150));
  const deletes = options.deletedRows
    ? [
        {
          sequenceNumber: 2,
          file: {
            content: FileContent.POSITION_DELETES,
            filePath: `${filePath}.deletes.parquet`,
            fileFormat: 'PARQUET',
            specId: 0,
            partition: [DAY_VALUE],
            recordCount: options.deletedRows,
            fileSizeInBytes: 1000,
            referencedDataFile: filePath,
          },
        },
      ]
    : [];
  return {
    file: {
      content: FileContent.DATA,
      filePath,
      fileFormat: 'PARQUET',
      specId: 0,
      partition: [DAY_VALUE],
      recordCount,
      fileSizeInBytes: bytes,
    },
    spec: DAY_SPEC,
    sequenceNumber: 1,
    deletes,
  };
}

const paths = (groups: FileScanTask[][]) => groups.map((g) => g.map((t) => t.file.filePath).sort());
const smalls = (n: number, bytes = 75 * KIB) => Array.from({ length: n }, (_, i) => file(bytes + i * 100));

describe('partitionClosed', () => {
  const spec = (...transforms: string[]): PartitionSpec => ({
    specId: 0,
    fields: transforms.map((transform, i) => ({ sourceId: 2 + i, fieldId: 1000 + i, name: `p${i}`, transform })),
  });
  const nextDay = (DAY_VALUE + 1) * DAY;

  it('a day closes at the following midnight, an hour at the next hour', () => {
    expect(partitionClosed(spec('day'), [DAY_VALUE], nextDay - 1)).toBe(false);
    expect(partitionClosed(spec('day'), [DAY_VALUE], nextDay)).toBe(true);
    const hour = DAY_VALUE * 24 + 13;
    expect(partitionClosed(spec('hour'), [hour], (hour + 1) * HOUR - 1)).toBe(false);
    expect(partitionClosed(spec('hour'), [hour], (hour + 1) * HOUR)).toBe(true);
  });

  it('months and years close at their calendar end', () => {
    const november2026 = (2026 - 1970) * 12 + 10;
    expect(partitionClosed(spec('month'), [november2026], Date.UTC(2026, 11, 1) - 1)).toBe(false);
    expect(partitionClosed(spec('month'), [november2026], Date.UTC(2026, 11, 1))).toBe(true);
    expect(partitionClosed(spec('year'), [2026 - 1970], Date.UTC(2026, 11, 31, 23))).toBe(false);
    expect(partitionClosed(spec('year'), [2026 - 1970], Date.UTC(2027, 0, 1))).toBe(true);
  });

  it('partitions without a time field, or with a null time value, never close', () => {
    const later = Date.UTC(2100, 0, 1);
    expect(partitionClosed({ specId: 0, fields: [] }, [], later)).toBe(false);
    expect(partitionClosed(spec('identity'), ['LOT-1'], later)).toBe(false);
    expect(partitionClosed(spec('bucket[16]'), [3], later)).toBe(false);
    expect(partitionClosed(spec('day'), [null], later)).toBe(false);
    // a day field closes a partition that also has an identity field
    expect(partitionClosed(spec('identity', 'day'), ['LOT-1', DAY_VALUE], nextDay)).toBe(true);
  });
});

describe('selectFileGroups in a closed partition (Iceberg Java rule)', () => {
  it('does not pick again what a rewrite leaves as many files as it took: two files over the target stay', () => {
    // 700 MiB is written as two files of 350 MiB (below the 384 MiB minimum): merging those again changes nothing
    const three = [file(250 * MIB), file(230 * MIB), file(220 * MIB)];
    expect(expectedOutputFiles(700 * MIB, settings())).toBe(2);
    expect(paths(selectFileGroups(three, settings(), { closed: true }))).toEqual(paths([three]));
    for (const closed of [true, false]) {
      expect(selectFileGroups([file(350 * MIB), file(350 * MIB)], settings(), { closed })).toEqual([]);
    }
  });

  it('rewrites every file below the minimum size together, the large ones included', () => {
    const big = file(40 * MIB, { name: 'big' });
    const fresh = smalls(4);
    expect(paths(selectFileGroups([big, ...fresh], settings(), { closed: true }))).toEqual(paths([[big, ...fresh]]));
  });

  it('leaves files that are done', () => {
    const done = file(400 * MIB, { name: 'done' });
    expect(selectFileGroups([done], settings(), { closed: true })).toEqual([]);
    const fresh = smalls(2);
    expect(paths(selectFileGroups([done, ...fresh], settings(), { closed: true }))).toEqual(paths([fresh]));
  });

  it('merges the tiers it closed with, but does not copy its large file again for a few late rows', () => {
    const tiers = [file(20 * MIB), file(4 * MIB), file(MIB)];
    expect(paths(selectFileGroups(tiers, settings(), { closed: true }))).toEqual(paths([tiers]));
    // the smaller files hold less than a quarter (1 / (min-input-files − 1)) of the largest
    const merged = file(25 * MIB, { name: 'merged' });
    const late = smalls(3);
    expect(selectFileGroups([merged, ...late], settings(), { closed: true })).toEqual([]);
    expect(selectFileGroups([file(20 * MIB), file(4 * MIB)], settings(), { closed: true })).toEqual([]);
    // five files are worth a rewrite under Java's rule whatever their sizes
    const more = [...late, file(80 * KIB)];
    expect(paths(selectFileGroups([merged, ...more], settings(), { closed: true }))).toEqual(
      paths([[merged, ...more]]),
    );
  });

  it('rewrite-all takes every file of an open partition too', () => {
    const files = [file(400 * MIB), file(MIB)];
    expect(paths(selectFileGroups(files, settings({ 'rewrite-all': true }), { closed: false }))).toEqual(
      paths([files]),
    );
  });
});

describe('selectFileGroups in a partition still filling (size tiers)', () => {
  it('merges the new small files and leaves the large file the last compaction wrote', () => {
    const big = file(8 * MIB, { name: 'big' });
    const fresh = smalls(12);
    expect(paths(selectFileGroups([big, ...fresh], settings(), { closed: false }))).toEqual(paths([fresh]));
  });

  it('a tiny file left over (a batch straddling midnight) goes along with the next tier merged', () => {
    const tiny = file(4 * KIB, { name: 'tiny' });
    const fresh = smalls(12);
    const hours = [file(900 * KIB), file(950 * KIB)];
    expect(paths(selectFileGroups([tiny, ...fresh, ...hours], settings(), { closed: false }))).toEqual(
      paths([[tiny, ...fresh]]),
    );
  });

  it('files of one tier merge once min-input-files of them have piled up', () => {
    const fresh = smalls(12);
    const hours = [900, 1000, 1100, 950, 1200].map((k) => file(k * KIB));
    const fiveHours = file(5 * MIB, { name: 'five-hours' });
    expect(paths(selectFileGroups([fiveHours, ...hours.slice(0, 4), ...fresh], settings(), { closed: false }))).toEqual(
      paths([fresh]),
    );
    expect(paths(selectFileGroups([fiveHours, ...hours, ...fresh], settings(), { closed: false }))).toEqual(
      paths([fresh, hours]),
    );
  });

  it('nothing is rewritten while every tier is short of min-input-files', () => {
    const files = [...smalls(3), ...[900, 1000, 1100, 950].map((k) => file(k * KIB)), file(5 * MIB)];
    expect(selectFileGroups(files, settings(), { closed: false })).toEqual([]);
  });

  it('a tier that together exceeds a target file is merged, even with two files', () => {
    const halves = [file(300 * MIB), file(310 * MIB)];
    const fresh = smalls(2);
    expect(paths(selectFileGroups([...halves, ...fresh], settings(), { closed: false }))).toEqual(
      paths([[...fresh, ...halves]]),
    );
  });

  it('a file with too many deletes is rewritten, with the smaller files left over', () => {
    const fresh = smalls(2);
    const deleted = file(2 * MIB, { deletedRows: 10_000 });
    const other = file(40 * MIB);
    expect(paths(selectFileGroups([other, deleted, ...fresh], settings(), { closed: false }))).toEqual(
      paths([[...fresh, deleted]]),
    );
  });

  it('tiers are cut where a file exceeds the next smaller one by more than the spread', () => {
    expect(tierSpread(settings())).toBeCloseTo(Math.sqrt(5));
    expect(tierSpread(settings({ 'min-input-files': 2 }))).toBe(1.5);
    const sizes = (tiers: FileScanTask[][]) => tiers.map((t) => t.map((f) => f.file.fileSizeInBytes / KIB));
    const files = [100, 200, 440, 1000, 1100, 2400, 6000].map((k) => file(k * KIB));
    expect(sizes(sizeTiers(files, settings()))).toEqual([[100, 200, 440], [1000, 1100, 2400], [6000]]);
  });
});

describe('a simulated day of hourly compactions', () => {
  /** Files of one partition as sizes; a merge writes one file of the inputs' sum, as a rewrite roughly does. */
  function simulate(ticks: number, closeAt: number) {
    let live: FileScanTask[] = [];
    let ingested = 0;
    let rewritten = 0;
    let mostOpenFiles = 0;
    const groupsAt: FileScanTask[][][] = [];
    for (let hour = 1; hour <= ticks; hour++) {
      // one hour of appends: 12 five-minute batches whose size follows a daily curve
      const volume = 600 + 400 * Math.sin((hour / 24) * 2 * Math.PI);
      const batch = smalls(12, Math.round(volume * KIB) / 12);
      ingested += batch.reduce((s, t) => s + t.file.fileSizeInBytes, 0);
      live.push(...batch);
      const groups = selectFileGroups(live, settings(), { closed: hour >= closeAt });
      groupsAt.push(groups);
      for (const group of groups) {
        const bytes = group.reduce((s, t) => s + t.file.fileSizeInBytes, 0);
        rewritten += bytes;
        live = live.filter((t) => !group.includes(t));
        live.push(file(bytes));
      }
      if (hour < closeAt) mostOpenFiles = Math.max(mostOpenFiles, live.length);
    }
    return { live, amplification: rewritten / ingested, mostOpenFiles, groupsAt };
  }

  it('writes each row a few times, not once per hour, and ends the closed day as one file', () => {
    const day = simulate(25, 25);
    expect(day.live).toHaveLength(1);
    // Before: every tick rewrote the whole open day, about 12.5 times the rows over 24 hours.
    expect(day.amplification).toBeLessThan(3.5);
    expect(day.mostOpenFiles).toBeLessThanOrEqual(10);
  });

  it('the file a tick writes is not rewritten by the next tick', () => {
    const { groupsAt } = simulate(3, 99);
    const written = groupsAt[0].flat().length;
    expect(written).toBe(12);
    const second = groupsAt[1].flat();
    expect(second).toHaveLength(12);
    expect(second.every((t) => t.file.fileSizeInBytes < 200 * KIB)).toBe(true);
  });
});
