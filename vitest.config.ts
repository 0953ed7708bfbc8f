import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // s3rver answers truncated listings with 500 on Node 20 without the legacy OpenSSL provider (LIBS.md)
    env: { NODE_OPTIONS: '--openssl-legacy-provider' },
  },
});
