/**
 * The Knative Functions module shape (`init`, `handle(context, event)`, `shutdown`) around one floe function: the
 * instance is built once from the environment, on `init` or on the first event.
 */
import type { CloudEventMessage } from '../shared/events/cloudevent.ts';
import type { FloeEnv } from '../shared/runtime/env.ts';
import type { FloeFunction, FunctionContext } from '../shared/runtime/function-host.ts';
import { createRuntime, type Runtime } from '../shared/runtime/runtime.ts';

export function knativeFunction(name: string, make: (runtime: Runtime) => FloeFunction) {
  let instance: FloeFunction | undefined;
  const init = async (env?: FloeEnv): Promise<FloeFunction> => (instance ??= make(createRuntime(name, env)));
  return {
    init,
    handle: async (context: FunctionContext, event: CloudEventMessage) => (await init()).handle(context, event),
    shutdown: async (): Promise<void> => {
      await instance?.shutdown?.();
    },
  };
}
