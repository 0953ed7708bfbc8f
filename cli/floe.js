#!/usr/bin/env node
// The `floe` command. The sources are TypeScript; tsx compiles them on the fly so `npx floe` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
