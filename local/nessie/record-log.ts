/**
 * An append-only file of framed records: `[u32 LE length][u32 LE crc32(payload)][payload]`.
 *
 * Appends write a batch of records in one synchronized-data `write` (O_DSYNC, or `write` + `fdatasync` where the
 * flag is missing) before returning, so a caller may acknowledge once `append` resolves. Reading stops at a torn tail —
 * the last record cut short or half-written by a crash (kill -9 mid-write, or a zero-filled tail after a power loss) —
 * which is reported and later truncated away. A damaged record followed by more data is not a torn tail but
 * corruption: reading refuses rather than silently dropping committed records after it.
 */
import { constants } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import path from 'node:path';

const HEADER = 8;
/** No floe record comes near this; a larger length field is garbage. */
const MAX_RECORD = 512 * 1024 * 1024;

export function encodeRecord(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  frame.set(payload, HEADER);
  return frame;
}

export interface ReadRecords {
  records: Buffer[];
  /** Bytes up to the end of the last good record. */
  validLength: number;
  /** Bytes after it that belong to a torn last record (0 if the file ended cleanly). */
  tornBytes: number;
}

export class CorruptLogError extends Error {
  constructor(file: string, offset: number, reason: string) {
    super(`${file} is corrupt at byte ${offset} (${reason}); refusing to start so that no committed data is dropped`);
    this.name = 'CorruptLogError';
  }
}

function allZero(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/** Reads every intact record of `file` (missing file: none). Throws CorruptLogError for damage before the tail. */
export async function readRecords(file: string): Promise<ReadRecords> {
  let data: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      data = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], validLength: 0, tornBytes: 0 };
    throw err;
  }
  const records: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    const rest = data.length - offset;
    const torn = () => ({ records, validLength: offset, tornBytes: rest });
    if (rest < HEADER) return torn();
    const length = data.readUInt32LE(offset);
    const checksum = data.readUInt32LE(offset + 4);
    if (length === 0 || length > MAX_RECORD) {
      if (allZero(data.subarray(offset))) return torn();
      throw new CorruptLogError(file, offset, `impossible record length ${length}`);
    }
    if (length > rest - HEADER) return torn();
    const payload = data.subarray(offset + HEADER, offset + HEADER + length);
    if (crc32(payload) !== checksum) {
      const end = offset + HEADER + length;
      if (end === data.length || allZero(data.subarray(end))) return torn();
      throw new CorruptLogError(file, offset, 'checksum mismatch');
    }
    records.push(payload);
    offset += HEADER + length;
  }
  return { records, validLength: offset, tornBytes: 0 };
}

export interface AppendLog {
  readonly file: string;
  /** Current size in bytes. */
  size(): number;
  /** Writes the records in one go, durably (O_DSYNC or fdatasync), before resolving. */
  append(records: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

/** Makes a directory entry change (create, rename, unlink) durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Where the platform has O_DSYNC (Linux, macOS) the log is opened with it: each `write` returns only once its data
 * (and the metadata needed to read it back, such as the file size) is on stable storage, exactly what `write` +
 * `fdatasync` guarantee, but in one system call and one trip through libuv's thread pool instead of two.
 */
const DSYNC = constants.O_DSYNC ?? 0;

/** Opens `file` for appending after cutting it to `validLength` (dropping a torn tail); creates it if missing. */
export async function openAppendLog(file: string, validLength: number): Promise<AppendLog> {
  let handle: FileHandle;
  let created = false;
  try {
    handle = await open(file, constants.O_RDWR | DSYNC);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    handle = await open(file, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | DSYNC);
    created = true;
  }
  const { size: current } = await handle.stat();
  if (current !== validLength) {
    await handle.truncate(validLength);
    await handle.sync();
  }
  if (created) {
    await handle.sync();
    await syncDirectory(path.dirname(file));
  }
  let size = validLength;
  return {
    file,
    size: () => size,
    async append(records) {
      const buffer = records.length === 1 ? records[0] : Buffer.concat(records);
      let written = 0;
      while (written < buffer.length) {
        const { bytesWritten } = await handle.write(buffer, written, buffer.length - written, size + written);
        written += bytesWritten;
      }
      if (!DSYNC) await handle.datasync();
      size += buffer.length;
    },
    async close() {
      await handle.close();
    },
  };
}

/** Writes a whole file durably: temp file, fsync, atomic rename, directory fsync. */
export async function writeFileAtomically(file: string, records: Buffer[]): Promise<void> {
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w');
  try {
    for (const record of records) await handle.write(record);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  await syncDirectory(path.dirname(file));
}
