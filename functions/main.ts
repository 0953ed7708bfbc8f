/**
 * The process entry of every floe function when run from source: `FLOE_FUNCTION=<name>` picks the function. The
 * local stack starts this once per function; the container image runs the per-function bundles of `npm run build`.
 */
import { FUNCTIONS, functionModule, type FunctionName } from './registry.ts';
import { serve } from './serve.ts';

const name = process.env.FLOE_FUNCTION;
if (!name || !(FUNCTIONS as readonly string[]).includes(name)) {
  console.error(
    `FLOE_FUNCTION must name one of: ${FUNCTIONS.join(', ')} (got ${name === undefined ? 'nothing' : `'${name}'`})`,
  );
  process.exit(2);
}
const { init } = await functionModule(name as FunctionName);
await serve(name, init);
