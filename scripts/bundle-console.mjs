// Builds the web console's assets (roster serve's /ui/) into dist/console/: the stylesheet and
// the script minified by esbuild, the icon as it is, each under a name that carries a hash of its
// content (serve lets browsers cache them for a year), and manifest.json from each source name to
// its built name. serve reads them from there; nothing of it is in dist/roster.cjs.
import {build} from 'esbuild'
import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

const SOURCE = 'src/lib/server/ui/assets'
const OUT = 'dist/console'

export async function bundleConsole() {
  mkdirSync(OUT, {recursive: true})
  const result = await build({
    entryPoints: [path.join(SOURCE, 'console.js'), path.join(SOURCE, 'console.css')],
    outdir: OUT,
    entryNames: '[name]-[hash]',
    bundle: true,
    minify: true,
    format: 'iife',
    // The browsers of the last few years: no transform the script or the stylesheet needs.
    target: ['chrome111', 'firefox115', 'safari16.4'],
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  })
  const manifest = {}
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (output.entryPoint) manifest[path.basename(output.entryPoint)] = path.basename(file)
  }
  const icon = readFileSync(path.join(SOURCE, 'favicon.svg'))
  const iconName = `favicon-${createHash('sha256').update(icon).digest('hex').slice(0, 8).toUpperCase()}.svg`
  writeFileSync(path.join(OUT, iconName), icon)
  manifest['favicon.svg'] = iconName
  writeFileSync(path.join(OUT, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  return manifest
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await bundleConsole())
