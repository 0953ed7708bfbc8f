/**
 * Message schemas: each API declares its request and response as a struct of typed fields with the versions they
 * exist in, the way Kafka's own message definitions do; one generic reader and writer then handle every version.
 * Flexible versions (KIP-482) switch strings, bytes and arrays to their compact forms and end every struct with a
 * tagged-field section; fields with a `tag` live there.
 */
import { DecodeError, Reader } from './reader.ts';
import { Writer } from './writer.ts';

export interface Ctx {
  version: number;
  flexible: boolean;
}

export interface Type<T, I = T> {
  read(r: Reader, c: Ctx): T;
  write(w: Writer, v: I, c: Ctx): void;
  /** The value a field takes in versions that lack it, or when the sender leaves it out. */
  zero(): T;
}

/** A field limited to some versions, or tagged; optional when encoding, always present (defaulted) when decoded. */
export interface Versioned<T, I> {
  kind: 'versioned';
  type: Type<T, I>;
  min: number;
  max: number;
  tag?: number;
  dflt?: T;
}

type Field = Type<any, any> | Versioned<any, any>;
export type Shape = Record<string, Field>;

type OutOf<F> = F extends Versioned<infer T, any> ? T : F extends Type<infer T, any> ? T : never;
type InOf<F> = F extends Versioned<any, infer I> ? I : F extends Type<any, infer I> ? I : never;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type Out<S extends Shape> = Simplify<{ [K in keyof S]: OutOf<S[K]> }>;
export type In<S extends Shape> = Simplify<
  { [K in keyof S as S[K] extends Versioned<any, any> ? never : K]: InOf<S[K]> } & {
    [K in keyof S as S[K] extends Versioned<any, any> ? K : never]?: InOf<S[K]>;
  }
>;
export type StructType<S extends Shape> = Type<Out<S>, In<S>> & { shape: S };
export type Infer<T> = T extends Type<infer O, any> ? O : never;
export type Input<T> = T extends Type<any, infer I> ? I : never;

export const int8: Type<number> = { read: (r) => r.int8(), write: (w, v) => void w.int8(v), zero: () => 0 };
export const int16: Type<number> = { read: (r) => r.int16(), write: (w, v) => void w.int16(v), zero: () => 0 };
export const int32: Type<number> = { read: (r) => r.int32(), write: (w, v) => void w.int32(v), zero: () => 0 };
export const int64: Type<bigint> = { read: (r) => r.int64(), write: (w, v) => void w.int64(v), zero: () => 0n };
export const bool: Type<boolean> = { read: (r) => r.boolean(), write: (w, v) => void w.boolean(v), zero: () => false };

export const nullableString: Type<string | null> = {
  read: (r, c) => (c.flexible ? r.compactNullableString() : r.nullableString()),
  write: (w, v, c) => void (c.flexible ? w.compactNullableString(v) : w.nullableString(v)),
  zero: () => null,
};

export const string: Type<string> = {
  read(r, c) {
    const v = nullableString.read(r, c);
    if (v === null) throw new DecodeError('null where a string is required');
    return v;
  },
  write: (w, v, c) => nullableString.write(w, v, c),
  zero: () => '',
};

export const nullableBytes: Type<Buffer | null, Uint8Array | null> = {
  read: (r, c) => (c.flexible ? r.compactNullableBytes() : r.nullableBytes()),
  write: (w, v, c) => void (c.flexible ? w.compactNullableBytes(v) : w.nullableBytes(v)),
  zero: () => null,
};

export const bytes: Type<Buffer, Uint8Array> = {
  read(r, c) {
    const v = nullableBytes.read(r, c);
    if (v === null) throw new DecodeError('null where bytes are required');
    return v;
  },
  write: (w, v, c) => nullableBytes.write(w, v, c),
  zero: () => Buffer.alloc(0),
};

/** A record set: nullable bytes, kept as a view of the request (no copy). */
export const records = nullableBytes;

export function nullableArray<T, I>(item: Type<T, I>): Type<T[] | null, I[] | null> {
  return {
    read(r, c) {
      const n = c.flexible ? r.compactArrayLength() : r.arrayLength();
      if (n < 0) return null;
      const out: T[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = item.read(r, c);
      return out;
    },
    write(w, v, c) {
      if (v === null) {
        if (c.flexible) w.uvarint(0);
        else w.int32(-1);
        return;
      }
      if (c.flexible) w.uvarint(v.length + 1);
      else w.int32(v.length);
      for (const x of v) item.write(w, x, c);
    },
    zero: () => null,
  };
}

export function array<T, I>(item: Type<T, I>): Type<T[], I[]> {
  const inner = nullableArray(item);
  return {
    read(r, c) {
      const v = inner.read(r, c);
      if (v === null) throw new DecodeError('null where an array is required');
      return v;
    },
    write: (w, v, c) => inner.write(w, v, c),
    zero: () => [],
  };
}

/**
 * A field present only in `versions` ("3+", "0-2" or "5"), or a tagged field (`tag`) in flexible versions.
 */
export function field<T, I>(
  type: Type<T, I>,
  versions: string,
  options: { tag?: number; default?: T } = {},
): Versioned<T, I> {
  const match = /^(\d+)(\+|-(\d+))?$/.exec(versions);
  if (!match) throw new Error(`bad version range '${versions}'`);
  const min = Number(match[1]);
  const max = match[2] === '+' ? Infinity : match[3] !== undefined ? Number(match[3]) : min;
  return { kind: 'versioned', type, min, max, tag: options.tag, dflt: options.default };
}

function isVersioned(f: Field): f is Versioned<any, any> {
  return (f as Versioned<any, any>).kind === 'versioned';
}

export function struct<S extends Shape>(shape: S): StructType<S> {
  const entries = Object.entries(shape).map(([name, f]) => {
    const v = isVersioned(f) ? f : undefined;
    const type: Type<any, any> = v ? v.type : (f as Type<any, any>);
    return {
      name,
      type,
      min: v?.min ?? 0,
      max: v?.max ?? Infinity,
      tag: v?.tag,
      dflt: () => (v && v.dflt !== undefined ? v.dflt : type.zero()),
    };
  });
  const present = (e: (typeof entries)[number], c: Ctx) =>
    c.version >= e.min && c.version <= e.max && (e.tag === undefined || c.flexible);

  return {
    shape,
    read(r, c) {
      const out: Record<string, unknown> = {};
      for (const e of entries) out[e.name] = present(e, c) && e.tag === undefined ? e.type.read(r, c) : e.dflt();
      if (c.flexible) {
        const count = r.uvarint();
        for (let i = 0; i < count; i++) {
          const tag = r.uvarint();
          const size = r.uvarint();
          const body = r.raw(size, 'tagged field');
          const e = entries.find((x) => x.tag === tag && present(x, c));
          if (e) out[e.name] = e.type.read(new Reader(body), c);
        }
      }
      return out as Out<S>;
    },
    write(w, value, c) {
      const v = value as Record<string, unknown>;
      const tagged: { tag: number; body: Buffer }[] = [];
      for (const e of entries) {
        if (!present(e, c)) continue;
        const x = v[e.name] === undefined ? e.dflt() : v[e.name];
        if (e.tag === undefined) {
          e.type.write(w, x, c);
        } else if (v[e.name] !== undefined) {
          const body = new Writer();
          e.type.write(body, x, c);
          tagged.push({ tag: e.tag, body: body.toBuffer() });
        }
      }
      if (c.flexible) {
        w.uvarint(tagged.length);
        for (const t of tagged.sort((a, b) => a.tag - b.tag)) w.uvarint(t.tag).uvarint(t.body.length).raw(t.body);
      }
    },
    zero() {
      const out: Record<string, unknown> = {};
      for (const e of entries) out[e.name] = e.dflt();
      return out as Out<S>;
    },
  };
}
