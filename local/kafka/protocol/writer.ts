/**
 * Writing Kafka's wire types. Output is a list of chunks: small fields go into a growing scratch buffer, large byte
 * fields (record sets) are referenced as they are, so a fetch response never copies the records it serves.
 */

const ZERO_COPY_THRESHOLD = 4096;

export class Writer {
  private chunks: Buffer[] = [];
  private scratch: Buffer;
  private pos = 0;
  private flushed = 0;

  constructor(initial = 256) {
    this.scratch = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.flushed + this.pos;
  }

  private room(n: number): number {
    if (this.pos + n > this.scratch.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.pos + n));
      this.scratch.copy(grown, 0, 0, this.pos);
      this.scratch = grown;
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  int8(v: number): this {
    const at = this.room(1);
    this.scratch.writeInt8(v, at);
    return this;
  }

  int16(v: number): this {
    const at = this.room(2);
    this.scratch.writeInt16BE(v, at);
    return this;
  }

  int32(v: number): this {
    const at = this.room(4);
    this.scratch.writeInt32BE(v, at);
    return this;
  }

  uint32(v: number): this {
    const at = this.room(4);
    this.scratch.writeUInt32BE(v, at);
    return this;
  }

  int64(v: bigint): this {
    const at = this.room(8);
    this.scratch.writeBigInt64BE(v, at);
    return this;
  }

  float64(v: number): this {
    const at = this.room(8);
    this.scratch.writeDoubleBE(v, at);
    return this;
  }

  boolean(v: boolean): this {
    const at = this.room(1);
    this.scratch[at] = v ? 1 : 0;
    return this;
  }

  uvarint(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`uvarint out of range: ${v}`);
    while (v >= 0x80) {
      const at = this.room(1);
      this.scratch[at] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    const at = this.room(1);
    this.scratch[at] = v;
    return this;
  }

  varint(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  varlong(v: number): this {
    let zz = (BigInt(v) << 1n) ^ (BigInt(v) >> 63n);
    while (zz >= 0x80n) {
      const at = this.room(1);
      this.scratch[at] = Number(zz & 0x7fn) | 0x80;
      zz >>= 7n;
    }
    const at = this.room(1);
    this.scratch[at] = Number(zz);
    return this;
  }

  raw(bytes: Uint8Array): this {
    if (bytes.length >= ZERO_COPY_THRESHOLD) {
      this.cut();
      this.chunks.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      this.flushed += bytes.length;
    } else {
      const at = this.room(bytes.length);
      this.scratch.set(bytes, at);
    }
    return this;
  }

  nullableString(v: string | null): this {
    if (v === null) return this.int16(-1);
    const length = Buffer.byteLength(v);
    this.int16(length);
    const at = this.room(length);
    this.scratch.write(v, at, length, 'utf8');
    return this;
  }

  compactNullableString(v: string | null): this {
    if (v === null) return this.uvarint(0);
    const length = Buffer.byteLength(v);
    this.uvarint(length + 1);
    const at = this.room(length);
    this.scratch.write(v, at, length, 'utf8');
    return this;
  }

  nullableBytes(v: Uint8Array | null): this {
    if (v === null) return this.int32(-1);
    return this.int32(v.length).raw(v);
  }

  compactNullableBytes(v: Uint8Array | null): this {
    if (v === null) return this.uvarint(0);
    return this.uvarint(v.length + 1).raw(v);
  }

  /** Moves the scratch bytes written so far into the chunk list. */
  private cut(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.scratch.subarray(0, this.pos));
    this.flushed += this.pos;
    this.scratch = this.scratch.subarray(this.pos);
    if (this.scratch.length < 64) this.scratch = Buffer.allocUnsafe(256);
    this.pos = 0;
  }

  chunkList(): Buffer[] {
    this.cut();
    return this.chunks;
  }

  toBuffer(): Buffer {
    const chunks = this.chunkList();
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.flushed);
  }
}
