export * from './object-store.ts';
export { localStore } from './local-store.ts';
export { s3Store, s3Client, type S3Options } from './s3-store.ts';
export * from './file-io.ts';
