/**
 * The real Iceberg tables under `test/fixtures/iceberg` (see its README): paths and bytes; and avsc's own
 * streaming decoder as an independent reader of the Avro files we write.
 */
import avsc from 'avsc';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';

/** Bytes of a fixture file, by path relative to the fixtures folder. */
export function fixture(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(ICEBERG_FIXTURES, relative)));
}

/** Every `.avro` fixture, relative to the fixtures folder, sorted. */
export function avroFixtures(): string[] {
  return (readdirSync(ICEBERG_FIXTURES, { recursive: true }) as string[]).filter((f) => f.endsWith('.avro')).sort();
}

/** Manifest lists are `snap-*.avro` (Java/PyIceberg naming) or named `*manifest-list*`/`*manifest_list*`. */
export function isManifestList(relative: string): boolean {
  const name = path.basename(relative);
  return name.startsWith('snap-') || /manifest[-_]list/.test(name);
}

/**
 * Decodes an Avro container with avsc's own streaming decoder (independent of `shared/iceberg/avro.ts`): records keyed
 * by Avro field name, longs as BigInt, header values as strings.
 */
export function decodeWithAvsc(
  bytes: Uint8Array,
): Promise<{ header: Record<string, string>; records: Record<string, unknown>[] }> {
  const bigLong = avsc.types.LongType.__with({
    fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
    toBuffer: (n: bigint) => {
      const buf = Buffer.alloc(8);
      buf.writeBigInt64LE(n);
      return buf;
    },
    fromJSON: (n: number) => BigInt(n),
    toJSON: (n: bigint) => Number(n),
    isValid: (n: unknown) => typeof n === 'bigint',
    compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
  });
  const typeHook = (s: unknown) =>
    s === 'long' || (typeof s === 'object' && s !== null && (s as { type?: unknown }).type === 'long')
      ? bigLong
      : undefined;
  return new Promise((resolve, reject) => {
    const header: Record<string, string> = {};
    const records: Record<string, unknown>[] = [];
    const decoder = new avsc.streams.BlockDecoder({
      parseHook: (schema: avsc.Schema) => avsc.Type.forSchema(schema, { typeHook } as Partial<avsc.ForSchemaOptions>),
    });
    decoder.on('metadata', (_type: unknown, _codec: string, h: { meta: Record<string, Buffer> }) => {
      for (const [key, value] of Object.entries(h.meta)) header[key] = value.toString('utf8');
    });
    decoder.on('data', (record: Record<string, unknown>) => records.push(record));
    decoder.on('error', reject);
    decoder.on('end', () => resolve({ header, records }));
    decoder.end(Buffer.from(bytes));
  });
}
