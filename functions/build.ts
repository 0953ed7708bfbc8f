/**
 * `npm run build`: bundles every function with esbuild into one ESM file `dist/functions/<name>.mjs` (plus the
 * wasm files its dependencies load at run time), ready for the container image. Prints the bundle sizes.
 *
 *   npm run build [-- [--out DIR] [name...]]
 */
import { build } from 'esbuild';
import { copyFile, cp, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUNCTIONS } from './registry.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where the image build (Dockerfile) and `floe start --bundles dist/functions` expect the bundles. */
export const DEFAULT_OUT = path.join(root, 'dist', 'functions');

// Bundled CommonJS dependencies still reach for require/__dirname/__filename; give them the ESM equivalents.
const banner = [
  "import { createRequire as __floeCreateRequire } from 'node:module';",
  "import { fileURLToPath as __floeFileURLToPath } from 'node:url';",
  "import { dirname as __floeDirname } from 'node:path';",
  'const require = __floeCreateRequire(import.meta.url);',
  'const __filename = __floeFileURLToPath(import.meta.url);',
  'const __dirname = __floeDirname(__filename);',
].join('\n');

/** Files dependencies read next to themselves at run time. */
const RUNTIME_ASSETS = ['node_modules/@bokuweb/zstd-wasm/dist/common/zstd.wasm'];

/** Bundle entries: each function through its Knative Functions module; the dashboard (not a CloudEvents function) through its command. */
function entry(name: string): string {
  if (name === 'dashboard') {
    return [
      "import { command } from '../cli/commands/dashboard.ts';",
      "process.exitCode = (await command.run({ values: { host: '0.0.0.0', port: process.env.PORT ?? '8080' }, positionals: [] })) ?? 0;",
    ].join('\n');
  }
  return `import { serve } from './serve.ts';\nimport { init } from './${name}/index.ts';\nawait serve(${JSON.stringify(name)}, init);\n`;
}

export const BUNDLES = [...FUNCTIONS, 'dashboard'] as const;

export async function buildFunctions(
  names: readonly string[] = BUNDLES,
  out: string = DEFAULT_OUT,
): Promise<{ name: string; file: string; bytes: number }[]> {
  await mkdir(out, { recursive: true });
  const sizes: { name: string; file: string; bytes: number }[] = [];
  for (const name of names) {
    const outfile = path.join(out, `${name}.mjs`);
    await build({
      stdin: {
        contents: entry(name),
        resolveDir: path.join(root, 'functions'),
        sourcefile: `${name}-entry.ts`,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      outfile,
      minify: true,
      sourcemap: 'linked',
      legalComments: 'none',
      banner: { js: banner },
      logLevel: 'warning',
    });
    sizes.push({ name, file: outfile, bytes: (await stat(outfile)).size });
  }
  for (const asset of RUNTIME_ASSETS) await copyFile(path.join(root, asset), path.join(out, path.basename(asset)));
  if (names.includes('dashboard')) {
    // The dashboard serves its page and Chart.js's browser bundle from next to itself (dashboard/server.ts).
    await cp(path.join(root, 'dashboard/page'), path.join(out, 'page'), { recursive: true });
    await mkdir(path.join(out, 'page', 'vendor'), { recursive: true });
    await copyFile(
      path.join(root, 'node_modules/chart.js/dist/chart.umd.min.js'),
      path.join(out, 'page', 'vendor', 'chart.umd.min.js'),
    );
  }
  return sizes;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(
      [
        'Usage: npm run build [-- [--out DIR] [name...]]',
        '',
        `Bundles the named functions (default all: ${BUNDLES.join(', ')}) into DIR/<name>.mjs (default dist/functions).`,
      ].join('\n'),
    );
    process.exit(0);
  }
  let out = DEFAULT_OUT;
  const outAt = args.indexOf('--out');
  if (outAt >= 0) {
    const dir = args[outAt + 1];
    if (!dir || dir.startsWith('-')) {
      console.error('--out expects a directory');
      process.exit(2);
    }
    out = path.resolve(dir);
    args.splice(outAt, 2);
  }
  const requested = args;
  const unknown = requested.filter((n) => !(BUNDLES as readonly string[]).includes(n));
  if (unknown.length) {
    console.error(`unknown bundle(s): ${unknown.join(', ')}; known: ${BUNDLES.join(', ')}`);
    process.exit(2);
  }
  const sizes = await buildFunctions(requested.length ? requested : BUNDLES, out);
  for (const { file, bytes } of sizes) {
    const shown = path.relative(process.cwd(), file);
    console.log(`${shown.startsWith('..') ? file : shown}  ${(bytes / 1024).toFixed(0)} KiB`);
  }
}
