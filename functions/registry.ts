/** The floe functions by name; each module exports Knative Functions' `init`/`handle`/`shutdown`. */
import type { FloeEnv } from '../shared/runtime/env.ts';
import type { FloeFunction } from '../shared/runtime/function-host.ts';

export const FUNCTIONS = ['tagger', 'writer', 'auditor', 'publisher', 'compactor', 'janitor', 'deadletter'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export interface FunctionModule {
  init(env?: FloeEnv): Promise<FloeFunction>;
}

const modules: Record<FunctionName, () => Promise<FunctionModule>> = {
  tagger: () => import('./tagger/index.ts'),
  writer: () => import('./writer/index.ts'),
  auditor: () => import('./auditor/index.ts'),
  publisher: () => import('./publisher/index.ts'),
  compactor: () => import('./compactor/index.ts'),
  janitor: () => import('./janitor/index.ts'),
  deadletter: () => import('./deadletter/index.ts'),
};

export function functionModule(name: FunctionName): Promise<FunctionModule> {
  return modules[name]();
}
