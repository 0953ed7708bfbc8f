/** A catalog on the embedded Nessie server with a local warehouse, and the chain's functions built on it. */
import { startNessieServer } from '../../local/nessie/index.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { loadEnv, type FloeEnv } from '../../shared/runtime/env.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { silentLogger } from './silent-logger.ts';
import { tempDir } from './tmp.ts';

export interface TestStack {
  dir: string;
  nessieUri: string;
  env: FloeEnv;
  runtime: Runtime;
  catalog: Catalog;
  /** Rows on a ref of production.<table> and production.<table>_untrusted. */
  mainRows(
    table: string,
    ref?: string,
  ): Promise<{ trusted: Record<string, unknown>[]; untrusted: Record<string, unknown>[] }>;
  stop(): Promise<void>;
}

export async function startTestStack(vars: Record<string, string> = {}): Promise<TestStack> {
  const tmp = await tempDir('floe-stack');
  const nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  const env = loadEnv({
    FLOE_WAREHOUSE: `${tmp.dir}/warehouse`,
    NESSIE_URI: nessie.uri,
    FLOE_CONFIG: 'knative/config/pipeline.yaml',
    ...vars,
  });
  const io = createFileIO({ localFiles: true });
  const catalog: Catalog = { client: createNessieClient({ uri: nessie.uri }), io, warehouse: env.warehouse };
  const runtime: Runtime = { env, log: silentLogger, io, catalog };
  return {
    dir: tmp.dir,
    nessieUri: nessie.uri,
    env,
    runtime,
    catalog,
    async mainRows(table, ref = 'main') {
      const names = [`production.${table}`, `production.${table}_untrusted`];
      const { tables } = await loadTables(catalog, ref, names);
      const read = async (name: string) => (tables.get(name) ? scanRows(tables.get(name)!.metadata, { io }) : []);
      return { trusted: await read(names[0]), untrusted: await read(names[1]) };
    },
    async stop() {
      await nessie.stop();
      await tmp.cleanup();
    },
  };
}
