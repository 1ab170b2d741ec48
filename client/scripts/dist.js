'use strict'
// miniprogram_dist/, the folder WeChat DevTools' "Build npm" copies (package.json's `miniprogram` field)
// and the package's entry: the library's one source and its declarations, made on `npm install`/`npm ci`
// and before `npm pack`/`npm publish` (the `prepare` script), never committed.
const fs = require('node:fs')
const path = require('node:path')

const CLIENT = path.resolve(__dirname, '..')
const SOURCE = path.join(CLIENT, '..', 'example', 'miniprogram', 'lib', 'wxlogin.js')
const DIST = path.join(CLIENT, 'miniprogram_dist')

fs.rmSync(DIST, { recursive: true, force: true })
fs.mkdirSync(DIST)
fs.copyFileSync(SOURCE, path.join(DIST, 'index.js'))
fs.copyFileSync(path.join(CLIENT, 'wxlogin.d.ts'), path.join(DIST, 'index.d.ts'))
