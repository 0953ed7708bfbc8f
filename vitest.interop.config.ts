import { defineConfig } from 'vitest/config';
import { shared } from './vitest.config.ts';

/**
 * `npm run test:interop`: other engines read floe's tables. The global setup (test/interop/global-setup.ts) builds a
 * Python virtualenv with the pinned PyIceberg and PyArrow of test/interop/requirements.txt (from PyPI, cached in
 * ~/.cache/floe/interop); the tests write tables with floe and read them back with PyIceberg. test/interop/spark-setup.ts
 * caches PySpark and Iceberg's Spark runtime jar beside it; Spark reads and writes floe's tables through Iceberg's
 * NessieCatalog.
 */
export default defineConfig({
  test: {
    ...shared,
    include: ['test/interop/**/*.test.ts'],
    globalSetup: ['test/interop/global-setup.ts', 'test/interop/spark-setup.ts'],
    // A cold start installs PyIceberg and PyArrow, PySpark and Iceberg's Spark runtime first.
    hookTimeout: 900_000,
  },
});
