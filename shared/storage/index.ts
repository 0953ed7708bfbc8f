export * from './store.ts';
export { localStore } from './local.ts';
export { s3Store, s3Client, type S3Options } from './s3.ts';
export * from './file-io.ts';
