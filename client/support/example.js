'use strict'
// Runs the example Mini Program's own files under Node: App, Page and getApp as WeChat provides
// them (enough of them for one page), with the `wx` a test gives, until close().
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..', 'example', 'miniprogram')
const GLOBALS = ['wx', 'App', 'getApp', 'Page']

function loadExample(wx) {
  let app = null
  let definition = null
  Object.assign(globalThis, {
    wx,
    App: (options) => (app = options),
    getApp: () => app,
    Page: (options) => (definition = options),
  })
  for (const file of ['app.js', 'pages/index/index.js']) {
    const resolved = path.join(ROOT, file)
    delete require.cache[resolved]
    require(resolved)
  }
  const page = {
    ...definition,
    data: structuredClone(definition.data),
    setData(changes) {
      Object.assign(this.data, changes)
    },
  }
  const close = () => GLOBALS.forEach((name) => delete globalThis[name])
  return { app, page, close }
}

module.exports = { ROOT, loadExample }
