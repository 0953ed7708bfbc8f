import { defineConfig } from 'vitest/config';
import type { InlineConfig } from 'vitest/node';
import SkippedTestsReporter from './test/reporters/skipped.ts';

/**
 * The default suite (`npm test`, what CI runs): everything under test/ except test/engines/, which needs external
 * servers (a real Nessie, a real S3) and runs with `npm run test:engines` (vitest.engines.config.ts), and test/interop/,
 * where other engines (PyIceberg, installed from PyPI) read floe's tables: `npm run test:interop`.
 */
export const shared: InlineConfig = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: 'forks',
  // s3rver answers truncated listings with 500 on Node 20 without the legacy OpenSSL provider (LIBS.md)
  env: { NODE_OPTIONS: '--openssl-legacy-provider' },
  reporters: ['default', new SkippedTestsReporter()],
};

export default defineConfig({
  test: {
    ...shared,
    include: ['test/**/*.test.ts'],
    exclude: ['test/engines/**', 'test/interop/**', '**/node_modules/**'],
  },
});
