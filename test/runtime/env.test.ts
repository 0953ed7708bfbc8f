/**
 * The process environment is validated when a function starts: defaults for what is unset, and a bad value stops the
 * start with the variable named (the auditor's bloom filter cache and the logging settings included).
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { auditorFunction } from '../../functions/auditor/index.ts';
import { bloomFilterCache } from '../../functions/auditor/published-keys.ts';
import { DEFAULT_AUDIT_BLOOM_CACHE_BYTES, loadEnv } from '../../shared/runtime/env.ts';
import { ConfigError } from '../../shared/runtime/pipeline-config.ts';
import { createRuntime } from '../../shared/runtime/runtime.ts';
import { runFloe } from '../helpers/cli.ts';

const BASE = { FLOE_WAREHOUSE: '/tmp/floe-env-test', NESSIE_URI: 'http://127.0.0.1:1/api' };

describe('loadEnv', () => {
  it('applies the defaults', () => {
    const env = loadEnv(BASE);
    expect(env).toMatchObject({
      warehouse: 'file:///tmp/floe-env-test/',
      port: 8080,
      exitWithParent: false,
      auditBloomCacheBytes: 256 * 1024 * 1024,
    });
    expect(DEFAULT_AUDIT_BLOOM_CACHE_BYTES).toBe(268_435_456);
    expect(env.logLevel).toBeUndefined();
    expect(env.logFormat).toBeUndefined();
  });

  it('reads the auditor cache size, log settings and the parent flag', () => {
    const env = loadEnv({
      ...BASE,
      FLOE_AUDIT_BLOOM_CACHE_BYTES: '1048576',
      FLOE_LOG_LEVEL: 'warn',
      FLOE_LOG_FORMAT: 'json',
      FLOE_EXIT_WITH_PARENT: '1',
    });
    expect(env).toMatchObject({
      auditBloomCacheBytes: 1_048_576,
      logLevel: 'warn',
      logFormat: 'json',
      exitWithParent: true,
    });
    expect(loadEnv({ ...BASE, FLOE_AUDIT_BLOOM_CACHE_BYTES: '0' }).auditBloomCacheBytes).toBe(0);
  });

  it.each(['abc', '-1', '1.5', '', '1e9', '256MiB', '9007199254740993'])(
    'refuses FLOE_AUDIT_BLOOM_CACHE_BYTES=%j naming it',
    (value) => {
      expect(() => loadEnv({ ...BASE, FLOE_AUDIT_BLOOM_CACHE_BYTES: value })).toThrow(ConfigError);
      expect(() => loadEnv({ ...BASE, FLOE_AUDIT_BLOOM_CACHE_BYTES: value })).toThrow(
        /- FLOE_AUDIT_BLOOM_CACHE_BYTES: /,
      );
    },
  );

  it('refuses bad log settings and parent flags, naming every bad variable at once', () => {
    let error: unknown;
    try {
      loadEnv({ ...BASE, FLOE_LOG_LEVEL: 'verbose', FLOE_LOG_FORMAT: 'xml', FLOE_EXIT_WITH_PARENT: 'yes' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/- FLOE_LOG_LEVEL: /);
    expect(message).toMatch(/- FLOE_LOG_FORMAT: /);
    expect(message).toMatch(/- FLOE_EXIT_WITH_PARENT: /);
  });

  it('refuses a NESSIE_URI with the API version in it, which floe would request as /api/v2/v2', () => {
    expect(() => loadEnv({ ...BASE, NESSIE_URI: 'http://nessie:19120/api/v2' })).toThrow(
      /- NESSIE_URI: give the REST base without the API version \(e\.g\. http:\/\/nessie:19120\/api\)/,
    );
    expect(() => loadEnv({ ...BASE, NESSIE_URI: 'http://nessie:19120/api/v1/' })).toThrow(/- NESSIE_URI: /);
    expect(loadEnv({ ...BASE, NESSIE_URI: 'http://nessie:19120/api/' }).nessieUri).toBe('http://nessie:19120/api');
    expect(loadEnv({ ...BASE, NESSIE_URI: 'http://nessie:19120/v2ish' }).nessieUri).toBe('http://nessie:19120/v2ish');
  });

  it('refuses the batch settings it already validated, naming them', () => {
    expect(() => loadEnv({ ...BASE, FLOE_BATCH_LINGER_MS: '-5' })).toThrow(/- FLOE_BATCH_LINGER_MS: /);
    expect(() => loadEnv({ ...BASE, FLOE_BATCH_MAX_BYTES: 'lots' })).toThrow(/FLOE_BATCH_MAX_BYTES: not a byte size/);
  });
});

describe('the CLI', () => {
  it.each([['tables'], ['start', '--idle', '--home', '/nonexistent/floe-env-test']])(
    'floe %s stops before it starts anything on a NESSIE_URI with the API version in it',
    async (...args) => {
      const result = await runFloe(args, { env: { NESSIE_URI: 'http://127.0.0.1:1/api/v2' } });
      expect(result.stderr).toMatch(
        /invalid environment:\n {2}- NESSIE_URI: give the REST base without the API version/,
      );
      expect(result.code).toBe(1);
    },
    60_000,
  );
});

describe('the auditor', () => {
  it('sizes its bloom filter cache from FLOE_AUDIT_BLOOM_CACHE_BYTES', () => {
    const before = bloomFilterCache.maxWeight;
    try {
      auditorFunction(createRuntime('auditor', loadEnv({ ...BASE, FLOE_AUDIT_BLOOM_CACHE_BYTES: '4096' })));
      expect(bloomFilterCache.maxWeight).toBe(4096);
    } finally {
      bloomFilterCache.resize(before);
    }
  });

  it('does not start with a bad FLOE_AUDIT_BLOOM_CACHE_BYTES: exit code 2, the variable named', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'functions/main.ts'],
        {
          // Were the value accepted, the auditor would serve on a free port until this timeout kills it.
          timeout: 60_000,
          env: { ...process.env, ...BASE, FLOE_FUNCTION: 'auditor', PORT: '0', FLOE_AUDIT_BLOOM_CACHE_BYTES: '1.5' },
        },
        (error, _stdout, stderr) => resolve({ code: error ? (error.code as number | null) : 0, stderr }),
      );
    });
    expect(result.stderr).toMatch(/auditor: invalid environment:\n {2}- FLOE_AUDIT_BLOOM_CACHE_BYTES: /);
    expect(result.code).toBe(2);
  });
});
