/**
 * Request bodies of the v2 write endpoints, validated. A body that does not fit is a 400 BAD_REQUEST naming the field,
 * like Nessie's Jackson mapping errors.
 */
import { z } from 'zod';
import { NessieBadRequestError } from '../../shared/catalog/nessie/errors.ts';
import { contentKeySchema, contentSchema } from '../../shared/catalog/nessie/content-schema.ts';

const referenceBody = z.object({
  type: z.enum(['BRANCH', 'TAG', 'DETACHED']),
  name: z.string().nullish(),
  hash: z.string().nullish(),
});

/** Accepts the V2 fields and the V1 single-valued ones (`author`, `signedOffBy`, `properties`), like Nessie. */
const commitMetaBody = z.object({
  message: z.string(),
  authors: z.array(z.string()).nullish(),
  author: z.string().nullish(),
  allSignedOffBy: z.array(z.string()).nullish(),
  signedOffBy: z.string().nullish(),
  allProperties: z.record(z.string(), z.array(z.string())).nullish(),
  properties: z.record(z.string(), z.string()).nullish(),
  authorTime: z.string().nullish(),
  committer: z.string().nullish(),
  commitTime: z.string().nullish(),
  hash: z.string().nullish(),
  parentCommitHashes: z.array(z.string()).nullish(),
});

const operationBody = z.discriminatedUnion('type', [
  z.object({ type: z.literal('PUT'), key: contentKeySchema, content: contentSchema }),
  z.object({ type: z.literal('DELETE'), key: contentKeySchema }),
  z.object({ type: z.literal('UNCHANGED'), key: contentKeySchema }),
]);

const operationsBody = z.object({
  commitMeta: commitMetaBody,
  operations: z
    .array(operationBody)
    .nullish()
    .transform((ops) => ops ?? []),
});

const mergeBehavior = z.enum(['NORMAL', 'FORCE', 'DROP']);

const keyMergeBehaviorBody = z.object({
  key: contentKeySchema,
  mergeBehavior,
  expectedTargetContent: contentSchema.nullish(),
  resolvedContent: contentSchema.nullish(),
});

const mergeCommon = {
  fromRefName: z.string(),
  message: z.string().nullish(),
  defaultKeyMergeMode: mergeBehavior.nullish(),
  keyMergeModes: z
    .array(keyMergeBehaviorBody)
    .nullish()
    .transform((m) => m ?? []),
  dryRun: z.boolean().nullish(),
  fetchAdditionalInfo: z.boolean().nullish(),
  returnConflictAsResult: z.boolean().nullish(),
};

const mergeBody = z.object({
  ...mergeCommon,
  fromHash: z.string().nullish(),
  commitMeta: commitMetaBody.partial({ message: true }).nullish(),
});

const transplantBody = z.object({ ...mergeCommon, hashesToTransplant: z.array(z.string()) });

const contentsRequestBody = z.object({ requestedKeys: z.array(contentKeySchema) });

export type ReferenceBody = z.infer<typeof referenceBody>;
export type CommitMetaBody = z.infer<typeof commitMetaBody>;
export type OperationsBody = z.infer<typeof operationsBody>;
export type KeyMergeBehaviorBody = z.infer<typeof keyMergeBehaviorBody>;
export type MergeBody = z.infer<typeof mergeBody>;
export type TransplantBody = z.infer<typeof transplantBody>;

function parser<T>(schema: z.ZodType<T>, what: string): (body: unknown) => T {
  return (body) => {
    if (body === undefined) throw new NessieBadRequestError(`${what} body is required`);
    const result = schema.safeParse(body);
    if (!result.success)
      throw new NessieBadRequestError(`Invalid ${what} body: ${z.prettifyError(result.error).replace(/\n\s*/g, ' ')}`);
    return result.data;
  };
}

export const parseReferenceBody = parser(referenceBody, 'reference');
export const parseOperationsBody = parser(operationsBody, 'operations');
export const parseMergeBody = parser(mergeBody, 'merge');
export const parseTransplantBody = parser(transplantBody, 'transplant');
export const parseContentsRequestBody = parser(contentsRequestBody, 'contents request');

/** Commit metadata given as `Nessie-Commit-*` headers; they override the message and extend the lists. */
export interface HeaderMeta {
  message?: string;
  authors: string[];
  signedOffBy: string[];
  properties: Record<string, string[]>;
}

export function headerMeta(headers: Record<string, string | string[] | undefined>): HeaderMeta {
  const list = (value: string | string[] | undefined) =>
    (Array.isArray(value) ? value : value === undefined ? [] : [value])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);
  const meta: HeaderMeta = {
    authors: list(headers['nessie-commit-authors']),
    signedOffBy: list(headers['nessie-commit-signedoffby']),
    properties: {},
  };
  const message = headers['nessie-commit-message'];
  const text = (Array.isArray(message) ? message[0] : message)?.trim();
  if (text) meta.message = text;
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('nessie-commit-property-') && value !== undefined) {
      meta.properties[name.slice('nessie-commit-property-'.length)] = (Array.isArray(value) ? value : [value])
        .map((v) => v.trim())
        .filter(Boolean);
    }
  }
  return meta;
}
