'use strict'
// The example opens in WeChat DevTools as it is: a valid project, pages that exist, handlers the
// pages define, requires that stay inside miniprogramRoot, and the library from its one source.
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { test } = require('node:test')
const { ROOT, loadExample } = require('../support/example.js')

const PROJECT = path.dirname(ROOT)
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'))

function jsFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return jsFiles(full)
    return entry.name.endsWith('.js') ? [full] : []
  })
}

test('project.config.json: the dev appid, miniprogramRoot, and no domain check so http://127.0.0.1 works', () => {
  const project = readJson(path.join(PROJECT, 'project.config.json'))
  assert.equal(project.appid, 'wx0123456789abcdef')
  assert.equal(project.compileType, 'miniprogram')
  assert.equal(path.resolve(PROJECT, project.miniprogramRoot), ROOT)
  assert.equal(project.setting.urlCheck, false)
})

test('app.json lists pages that exist, each with its four files', () => {
  const appJson = readJson(path.join(ROOT, 'app.json'))
  assert.ok(appJson.pages.length > 0)
  for (const page of appJson.pages) {
    for (const ext of ['.js', '.wxml', '.wxss', '.json']) {
      assert.ok(fs.existsSync(path.join(ROOT, page + ext)), `${page}${ext} is missing`)
    }
    readJson(path.join(ROOT, `${page}.json`))
  }
})

test('every require stays inside miniprogramRoot: a Mini Program can load nothing else', () => {
  for (const file of jsFiles(ROOT)) {
    for (const [, target] of fs.readFileSync(file, 'utf8').matchAll(/require\('([^']+)'\)/g)) {
      const resolved = path.resolve(path.dirname(file), target)
      assert.ok(resolved.startsWith(ROOT + path.sep), `${file} requires ${target}, outside miniprogramRoot`)
      assert.ok(fs.existsSync(resolved), `${file} requires ${target}, which does not exist`)
    }
  }
})

test('client/ and the example load the same library file: one source', () => {
  assert.equal(require('../wxlogin.js'), require(path.join(ROOT, 'lib', 'wxlogin.js')))
})

test('the example talks to make run by default', () => {
  const config = require(path.join(ROOT, 'config.js'))
  assert.equal(config.baseUrl, 'http://127.0.0.1:3000')
  assert.equal(config.simulator.url, 'http://127.0.0.1:3001')
  assert.deepEqual(config.apiOrigins, ['http://127.0.0.1:3000']) // the example API, GET /v1/examples/whoami
})

test('the page markup is balanced and binds only handlers the page defines', () => {
  const { page, close } = loadExample({})
  close()
  const wxml = fs.readFileSync(path.join(ROOT, 'pages', 'index', 'index.wxml'), 'utf8')
  const open = []
  for (const [tag, closing, name, , selfClosing] of wxml.matchAll(/<(\/?)([\w-]+)((?:[^>"]|"[^"]*")*?)(\/?)>/g)) {
    if (selfClosing) continue
    if (!closing) open.push(name)
    else assert.equal(open.pop(), name, `unbalanced ${tag}`)
  }
  assert.deepEqual(open, [])
  const handlers = [...wxml.matchAll(/\bbind:?\w+="(\w+)"/g)].map(([, handler]) => handler)
  assert.ok(handlers.length > 0)
  for (const handler of handlers) assert.equal(typeof page[handler], 'function', `${handler} is not defined`)
})
