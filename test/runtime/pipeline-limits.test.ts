import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../shared/runtime/pipeline-config.ts';

describe('pipeline config: limits', () => {
  it('has defaults for every limit', () => {
    expect(parsePipelineConfig({}).limits).toEqual({
      maxDepth: 64,
      maxRecordBytes: 1024 * 1024,
      maxStringLength: 262_144,
      maxFields: 1000,
      maxFieldNameLength: 255,
      maxNewColumnsPerBatch: 100,
    });
  });

  it('takes overrides, sizes as text', () => {
    const { limits } = parsePipelineConfig({
      limits: { maxDepth: 16, maxRecordBytes: '64KiB', maxNewColumnsPerBatch: 0 },
    });
    expect(limits).toMatchObject({ maxDepth: 16, maxRecordBytes: 65_536, maxNewColumnsPerBatch: 0, maxFields: 1000 });
  });

  it('refuses bad values and unknown keys, naming the field', () => {
    expect(() => parsePipelineConfig({ limits: { maxDepth: 0 } }, 'p.yaml')).toThrow(/limits\.maxDepth/);
    expect(() => parsePipelineConfig({ limits: { maxDepth: 100_000 } }, 'p.yaml')).toThrow(/limits\.maxDepth/);
    expect(() => parsePipelineConfig({ limits: { maxRecordBytes: 'a lot' } }, 'p.yaml')).toThrow(
      /limits\.maxRecordBytes: not a byte size/,
    );
    expect(() => parsePipelineConfig({ limits: { maxColumns: 5 } }, 'p.yaml')).toThrow(/limits/);
  });
});
