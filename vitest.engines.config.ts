import { defineConfig } from 'vitest/config';
import { shared } from './vitest.config.ts';

/**
 * `npm run test:engines`: the client suites against real servers. The global setup (test/engines/global-setup.ts)
 * starts Apache Kafka and an S3 server (moto) from the engines cache unless KAFKA_BROKERS / S3_ENDPOINT name running
 * ones. A real Nessie cannot be fetched everywhere, so its suite runs only when NESSIE_URI names one (CI fails on
 * skipped tests; a file that could only skip is left out instead).
 */
export default defineConfig({
  test: {
    ...shared,
    include: ['test/engines/**/*.test.ts'],
    exclude: [...(process.env.NESSIE_URI ? [] : ['test/engines/nessie-client.test.ts']), '**/node_modules/**'],
    globalSetup: ['test/engines/global-setup.ts'],
    // A cold start fetches Kafka and moto first.
    hookTimeout: 120_000,
  },
});
