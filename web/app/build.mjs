// Builds the shopper app and the dashboard into ../dist, which the Go
// package web embeds: hashed bundles under assets/ (served immutable) and
// pages.json, the bundles each HTML page (src/*.html, served no-cache)
// loads. Deterministic: CI
// rebuilds and fails when the committed dist differs.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'assets'), { recursive: true });

const res = await build({
  entryPoints: { shop: join(here, 'src/shop/main.js'), admin: join(here, 'src/admin/main.js') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'eof',
  logLevel: 'warning',
  // uPlot's copyright comment is not a legal comment to esbuild: say it here.
  banner: { js: '/*! Rummage web app. The dashboard bundles uPlot 1.6.32, (c) Leon Sorokin, MIT: /assets/uPlot-LICENSE.txt */' },
});
copyFileSync(join(here, 'node_modules/uplot/LICENSE'), join(dist, 'assets', 'uPlot-LICENSE.txt'));

const outputs = {};
let js = 0;
for (const [file, meta] of Object.entries(res.metafile.outputs)) {
  const name = basename(file);
  if (meta.entryPoint) outputs[name.split('-')[0] + '.js'] = name;
  if (meta.cssBundle) outputs[name.split('-')[0] + '.css'] = basename(meta.cssBundle);
  const gz = gzipSync(readFileSync(join(dist, 'assets', name)), { level: 9 });
  if (name.endsWith('.js')) {
    js += gz.length;
    console.log(`${name}: ${(gz.length / 1024).toFixed(1)} KB gzipped`);
  }
}
console.log(`JavaScript total: ${(js / 1024).toFixed(1)} KB gzipped (budget 200 KB)`);
if (js > 200 * 1024) {
  console.error('over the 200 KB budget');
  process.exit(1);
}

// The pages stay one file each (src/*.html, which package web embeds and
// fills in); the build names their bundles in pages.json.
const pages = {};
for (const [page, entry] of [['admin', 'admin'], ['index', 'shop']]) {
  pages[page] = { css: '/assets/' + outputs[entry + '.css'], js: '/assets/' + outputs[entry + '.js'] };
}
writeFileSync(join(dist, 'pages.json'), JSON.stringify(pages, null, 2) + '\n');
