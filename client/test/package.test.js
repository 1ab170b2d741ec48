'use strict'
// The npm package as Mini Program developers install it: what `npm pack` ships, the `miniprogram`
// folder WeChat DevTools' "Build npm" copies, the entry, the version, and declarations that compile.
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { test } = require('node:test')
const { ROOT } = require('../support/example.js')

const CLIENT = path.resolve(__dirname, '..')
const manifest = JSON.parse(fs.readFileSync(path.join(CLIENT, 'package.json'), 'utf8'))

test('npm pack ships the miniprogram folder: the library as its entry, and its declarations', () => {
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: CLIENT, encoding: 'utf8' }),
  )
  assert.equal(packed.name, 'wxlogin-client')
  assert.deepEqual(packed.files.map((file) => file.path).sort(), [
    'README.md',
    'miniprogram_dist/index.d.ts',
    'miniprogram_dist/index.js',
    'package.json',
  ])
  // "Build npm" copies the `miniprogram` folder; require('wxlogin-client') then loads its index.js.
  assert.equal(manifest.miniprogram, 'miniprogram_dist')
  assert.equal(manifest.main, `${manifest.miniprogram}/index.js`)
  assert.equal(manifest.types, `${manifest.miniprogram}/index.d.ts`)
})

test('the entry is the library itself (one source), and it knows its version', () => {
  const entry = path.join(CLIENT, manifest.main)
  assert.equal(fs.readFileSync(entry, 'utf8'), fs.readFileSync(path.join(ROOT, 'lib', 'wxlogin.js'), 'utf8'))
  const library = require(CLIENT)
  assert.equal(typeof library.createClient, 'function')
  assert.equal(library.VERSION, manifest.version)
  assert.match(manifest.version, /^\d+\.\d+\.\d+$/)
})

test('the declarations cover every export and compile against documented use (tsc --strict)', () => {
  const declarations = fs.readFileSync(path.join(CLIENT, manifest.types), 'utf8')
  for (const name of Object.keys(require(CLIENT))) {
    assert.match(declarations, new RegExp(`export declare (const|function|class) ${name}\\b`), name)
  }
  const tsc = path.join(CLIENT, 'node_modules', 'typescript', 'bin', 'tsc')
  execFileSync(process.execPath, [tsc, '-p', path.join(CLIENT, 'types', 'tsconfig.json')], { encoding: 'utf8' })
})
