import type { Catalog } from '../catalog/table-catalog.ts';
import type { Logger } from '../runtime/logger.ts';
import type { PipelineConfig } from '../runtime/pipeline-config.ts';
import type { Runtime } from '../runtime/runtime.ts';

/** What every WAP step needs: the catalog (Nessie + storage), the pipeline config, a logger, a clock. */
export interface WapContext {
  catalog: Catalog;
  config: PipelineConfig;
  log: Logger;
  now?: () => Date;
}

export function wapContext(runtime: Runtime): WapContext {
  return { catalog: runtime.catalog, config: runtime.env.pipeline, log: runtime.log };
}
