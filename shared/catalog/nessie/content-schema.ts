/**
 * Runtime shapes of content keys and content objects. The client decodes server responses with them (so 64-bit ids
 * always come out as `bigint`), the embedded server validates request bodies with them.
 */
import { z } from 'zod';
import type { Content } from './types.ts';

export const MAX_KEY_ELEMENTS = 20;
export const MAX_KEY_LENGTH = 500;

/** A JSON integer that may be a 64-bit long: parsed as number or bigint, always `bigint` after parsing. */
const long = z.union([z.bigint(), z.number().int()]).transform((v) => BigInt(v));
const int = z.number().int();

export const contentKeySchema = z.object({ elements: z.array(z.string()) });

/** Nessie's `Elements.validate`: 1..20 non-empty elements, no control characters, at most 500 characters. */
export function contentKeyProblem(elements: readonly string[]): string | undefined {
  const shown = `[${elements.join(', ')}]`;
  if (elements.length === 0) return 'Content key must have at least one element';
  if (elements.length > MAX_KEY_ELEMENTS)
    return `Content key too long, max allowed number of elements: ${MAX_KEY_ELEMENTS}`;
  let length = 0;
  for (const element of elements) {
    if (element.length === 0) return `Content key '${shown}' must not contain an empty element`;
    // eslint-disable-next-line no-control-regex -- Nessie's key rules and legacy encoding are about control characters
    if (/[\u0000-\u001f]/.test(element)) return `Content key '${shown}' must not contain characters less than 0x20`;
    if (element.includes('\u007f')) return `Content key '${shown}' must not contain the character 0x7F`;
    length += element.length;
  }
  if (length > MAX_KEY_LENGTH) return `Content key too long, max allowed length: ${MAX_KEY_LENGTH}`;
  return undefined;
}

/** Nessie's Java client sends `"id": null` for new content (Iceberg's NessieCatalog creating a table): no id yet. */
const contentId = z
  .string()
  .nullish()
  .transform((id) => id ?? undefined);

const icebergTableSchema = z.object({
  type: z.literal('ICEBERG_TABLE'),
  id: contentId,
  metadataLocation: z.string(),
  snapshotId: long,
  schemaId: int,
  specId: int,
  sortOrderId: int,
});

const icebergViewSchema = z.object({
  type: z.literal('ICEBERG_VIEW'),
  id: contentId,
  metadataLocation: z.string(),
  versionId: long,
  schemaId: int,
  sqlText: z.string().optional(),
  dialect: z.string().optional(),
});

const namespaceSchema = z.object({
  type: z.literal('NAMESPACE'),
  id: contentId,
  elements: z.array(z.string()),
  properties: z
    .record(z.string(), z.string())
    .optional()
    .transform((p) => p ?? {}),
});

export const contentSchema = z.discriminatedUnion('type', [icebergTableSchema, icebergViewSchema, namespaceSchema]);

export const KNOWN_CONTENT_TYPES: readonly string[] = ['ICEBERG_TABLE', 'ICEBERG_VIEW', 'NAMESPACE'];

/**
 * The content object with its fields in one fixed order, unknown fields dropped: two equal contents serialize to the
 * same text, which is how the embedded server compares values.
 */
export function canonicalContent(content: Content): Content {
  switch (content.type) {
    case 'ICEBERG_TABLE':
      return {
        type: content.type,
        id: content.id,
        metadataLocation: content.metadataLocation,
        snapshotId: content.snapshotId,
        schemaId: content.schemaId,
        specId: content.specId,
        sortOrderId: content.sortOrderId,
      };
    case 'ICEBERG_VIEW':
      return {
        type: content.type,
        id: content.id,
        metadataLocation: content.metadataLocation,
        versionId: content.versionId,
        schemaId: content.schemaId,
        sqlText: content.sqlText,
        dialect: content.dialect,
      };
    case 'NAMESPACE':
      return {
        type: content.type,
        id: content.id,
        elements: [...content.elements],
        properties: Object.fromEntries(
          Object.entries(content.properties).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        ),
      };
  }
}

/** Decodes a content object from a parsed JSON body; `undefined` for content types this model does not know. */
export function decodeContent(raw: unknown): Content | undefined {
  if (raw === null || typeof raw !== 'object') throw new TypeError('content is not an object');
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string' || !KNOWN_CONTENT_TYPES.includes(type)) return undefined;
  const parsed = contentSchema.safeParse(raw);
  if (!parsed.success) throw new TypeError(`malformed ${type} content: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
