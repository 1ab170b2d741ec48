'use strict'
// The example's index page as a Mini Program shows it: miniprogram-simulate (WeChat's j-component and
// exparser) compiles its WXML and WXSS into a jsdom document and runs its Page definition, so a test
// taps the rendered buttons and reads what the page shows. The example's app.js runs first, as in
// WeChat, with the `wx` the test gives.
const path = require('node:path')
const { JSDOM } = require('jsdom')
const { ROOT } = require('./example.js')

const WAIT_LIMIT_MS = 20 * 1000
const DOM_GLOBALS = ['window', 'document', 'CustomEvent', 'TouchEvent', 'Touch', 'Node', 'Element', 'HTMLElement']
const MINIPROGRAM_GLOBALS = ['wx', 'App', 'getApp', 'Page']

function renderIndexPage(wx) {
  const { window } = new JSDOM('<!doctype html><html><head></head><body></body></html>')
  for (const name of DOM_GLOBALS) globalThis[name] = name === 'window' ? window : window[name]
  // Loaded once the document exists: miniprogram-simulate registers Component and Behavior as it loads.
  const simulate = require('miniprogram-simulate')

  let app = null
  Object.assign(globalThis, {
    wx,
    App: (options) => (app = options),
    getApp: () => app,
    // A page is a component whose handlers are methods; WeChat calls onLoad when it opens, as open() does.
    Page: (options) => {
      const methods = Object.fromEntries(Object.entries(options).filter(([, value]) => typeof value === 'function'))
      globalThis.Component({ data: options.data, methods })
    },
  })
  const appJs = path.join(ROOT, 'app.js')
  delete require.cache[appJs]
  require(appJs)

  const id = simulate.load(path.join(ROOT, 'pages', 'index', 'index'), { compiler: 'simulate', rootPath: ROOT })
  const rendered = simulate.render(id)
  rendered.attach(window.document.createElement('page-root'))

  const find = (selector) => rendered.querySelector(selector)
  const page = {
    instance: rendered.instance,
    open: () => rendered.instance.onLoad(),
    /** The text of the element with this id, or null when the page does not show it. */
    text: (elementId) => {
      const element = find(`#${elementId}`)
      return element ? element.dom.textContent.trim() : null
    },
    shows: (elementId) => Boolean(find(`#${elementId}`)),
    /** Dispatch an event (tap, submit, getphonenumber, chooseavatar) at the element, as WeChat does. */
    fire(elementId, event = 'tap', detail = {}) {
      const element = find(`#${elementId}`)
      if (!element) throw new Error(`the page shows no #${elementId}`)
      element.dispatchEvent(event, { detail })
    },
    /** Until check() holds; the page's data in the error when it never does. */
    async until(check) {
      const deadline = Date.now() + WAIT_LIMIT_MS
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`the page never got there: ${JSON.stringify(rendered.instance.data)}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
  }
  const close = () => {
    rendered.detach()
    for (const name of [...DOM_GLOBALS, ...MINIPROGRAM_GLOBALS]) delete globalThis[name]
    window.close()
  }
  return { page, close }
}

module.exports = { renderIndexPage }
