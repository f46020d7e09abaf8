// web/build.mjs — bundles web/src into web/dist with esbuild (run by `make web`, which runs it only when a
// source changed). Output: web/dist/index.html (from web/index.html) and web/dist/assets/main-<hash>.{js,css}.
// Asset names carry a content hash, so the runtime serves them as immutable; index.html is revalidated.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(fileURLToPath(import.meta.url));
const out = join(web, 'dist.tmp');
await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: [join(web, 'src/main.js')],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['es2020'],
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => '/' + relative(out, p).split('\\').join('/'));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
if (!js) throw new Error('esbuild produced no JavaScript bundle');
const tags = [css && `<link rel="stylesheet" href="${css}">`, `<script type="module" src="${js}"></script>`]
  .filter(Boolean)
  .join('\n');
const template = await readFile(join(web, 'index.html'), 'utf8');
if (!template.includes('<!--ASSETS-->')) throw new Error('web/index.html lacks the <!--ASSETS--> marker');
await writeFile(join(out, 'index.html'), template.replace('<!--ASSETS-->', tags));

// swap in the new build at once, so a running server never serves half of one
const dist = join(web, 'dist');
await rm(dist, { recursive: true, force: true });
await rename(out, dist);
console.log(`web: built ${outputs.join(', ')}`);
