/** Location matching as Iceberg Java's orphan removal does it (`FileURI`): path first, then scheme and authority. */
import { describe, expect, it } from 'vitest';
import { locationIndex, locationParts } from '../../shared/maintenance/file-locations.ts';

describe('locations', () => {
  it('splits scheme, authority and path; s3a/s3n are s3; Hadoop file:/x has no authority', () => {
    expect(locationParts('s3a://bucket/a/b.parquet')).toEqual({
      scheme: 's3',
      authority: 'bucket',
      path: '/a/b.parquet',
    });
    expect(locationParts('S3N://bucket/a')).toEqual({ scheme: 's3', authority: 'bucket', path: '/a' });
    expect(locationParts('file:///tmp/x')).toEqual({ scheme: 'file', authority: '', path: '/tmp/x' });
    expect(locationParts('file:/tmp/x')).toEqual({ scheme: 'file', authority: '', path: '/tmp/x' });
    expect(locationParts('/tmp/x')).toEqual({ scheme: '', authority: '', path: '/tmp/x' });
  });

  it('matches by path; a recorded location without scheme matches any; another authority is a conflict', () => {
    const index = locationIndex();
    expect(index.add('s3a://warehouse/t/data/1.parquet')).toBe(true);
    expect(index.add('s3://warehouse/t/data/1.parquet')).toBe(false);
    index.add('/relative-to-any/2.parquet');
    expect(index.size).toBe(2);
    expect(index.match('s3://warehouse/t/data/1.parquet')).toEqual({ kind: 'reachable' });
    expect(index.match('s3://warehouse/t/data/3.parquet')).toEqual({ kind: 'unreachable' });
    expect(index.match('s3://other/t/data/1.parquet')).toEqual({
      kind: 'conflict',
      referencedAs: ['s3://warehouse/t/data/1.parquet'],
    });
    expect(index.match('gs://other/t/data/1.parquet')).toMatchObject({ kind: 'conflict' });
    expect(index.match('s3://any-bucket/relative-to-any/2.parquet')).toEqual({ kind: 'reachable' });
  });
});
