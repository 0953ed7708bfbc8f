import { defineConfig } from 'vitest/config';
import { shared } from './vitest.config.ts';

/**
 * `npm run test:engines`: the client suites against real external servers, which the default suite cannot start
 * (each file says which environment variables name its server). Outside CI a file without its server skips, saying why.
 */
export default defineConfig({
  test: {
    ...shared,
    include: ['test/engines/**/*.test.ts'],
  },
});
