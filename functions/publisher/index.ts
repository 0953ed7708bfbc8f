/** The publisher function (Knative Functions layout: `init`, `handle`, `shutdown`); its logic lives in `shared/wap/`. */
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { FloeEnv } from '../../shared/runtime/env.ts';
import type { FloeFunction, FunctionContext } from '../../shared/runtime/host.ts';
import { createRuntime } from '../../shared/runtime/runtime.ts';
import { publisherFunction } from '../../shared/wap/publisher-function.ts';

let instance: FloeFunction | undefined;

export async function init(env?: FloeEnv): Promise<FloeFunction> {
  instance ??= publisherFunction(createRuntime('publisher', env));
  return instance;
}

export async function handle(context: FunctionContext, event: CloudEventMessage) {
  return (await init()).handle(context, event);
}

export async function shutdown(): Promise<void> {
  await instance?.shutdown?.();
}
