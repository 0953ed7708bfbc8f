/**
 * Bounds-checked reading of Kafka's wire types from a buffer. Every read past the end throws `DecodeError`, so a
 * truncated or garbled request becomes one clear error instead of a RangeError from deep inside Buffer.
 */

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export class Reader {
  pos: number;
  readonly end: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): number {
    if (n < 0 || this.pos + n > this.end)
      throw new DecodeError(`truncated: ${what} needs ${n} bytes at ${this.pos}, ${this.end - this.pos} left`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  int8(): number {
    return this.buf.readInt8(this.need(1, 'int8'));
  }

  int16(): number {
    return this.buf.readInt16BE(this.need(2, 'int16'));
  }

  int32(): number {
    return this.buf.readInt32BE(this.need(4, 'int32'));
  }

  uint32(): number {
    return this.buf.readUInt32BE(this.need(4, 'uint32'));
  }

  int64(): bigint {
    return this.buf.readBigInt64BE(this.need(8, 'int64'));
  }

  float64(): number {
    return this.buf.readDoubleBE(this.need(8, 'float64'));
  }

  boolean(): boolean {
    return this.buf[this.need(1, 'boolean')] !== 0;
  }

  /** Unsigned LEB128 up to 32 bits (compact lengths, tags). */
  uvarint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.buf[this.need(1, 'varint')];
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) throw new DecodeError('unsigned varint exceeds 32 bits');
        return value;
      }
    }
    throw new DecodeError('unsigned varint longer than 5 bytes');
  }

  /** Zig-zag signed varint (record fields). */
  varint(): number {
    const raw = this.uvarint();
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }

  /** Zig-zag signed varlong as a JS number: record timestamp deltas, which stay far below 2^53. */
  varlong(): number {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.buf[this.need(1, 'varlong')];
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return Number((value >> 1n) ^ -(value & 1n));
    }
    throw new DecodeError('varlong longer than 10 bytes');
  }

  raw(n: number, what = 'bytes'): Buffer {
    const at = this.need(n, what);
    return this.buf.subarray(at, at + n);
  }

  private text(length: number): string {
    const at = this.need(length, 'string');
    return this.buf.toString('utf8', at, at + length);
  }

  /** int16-length string; -1 is null. */
  nullableString(): string | null {
    const length = this.int16();
    if (length < -1) throw new DecodeError(`invalid string length ${length}`);
    return length === -1 ? null : this.text(length);
  }

  /** uvarint(length + 1) string; 0 is null. */
  compactNullableString(): string | null {
    const length = this.uvarint() - 1;
    return length === -1 ? null : this.text(length);
  }

  /** int32-length bytes; -1 is null. The result shares memory with the request. */
  nullableBytes(): Buffer | null {
    const length = this.int32();
    if (length < -1) throw new DecodeError(`invalid bytes length ${length}`);
    return length === -1 ? null : this.raw(length);
  }

  compactNullableBytes(): Buffer | null {
    const length = this.uvarint() - 1;
    return length === -1 ? null : this.raw(length);
  }

  /** int32 element count; -1 is null. Rejects counts the remaining bytes cannot possibly hold. */
  arrayLength(): number {
    const n = this.int32();
    if (n < -1 || n > this.remaining()) throw new DecodeError(`invalid array length ${n}`);
    return n;
  }

  compactArrayLength(): number {
    const n = this.uvarint() - 1;
    if (n > this.remaining()) throw new DecodeError(`invalid compact array length ${n}`);
    return n;
  }
}
