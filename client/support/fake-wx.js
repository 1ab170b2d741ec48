'use strict'
// A `wx` with the parts the client uses, asynchronous like the real one. Kept out of test/
// because `node --test test/` would run every file there as a test.
const crypto = require('node:crypto')

// wx.request's documented methods: anything else fails on a phone, whatever DevTools allows.
const METHODS = new Set(['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT'])

/**
 * code(): what wx.login yields (a promise of a code, or a rejection for a failed wx.login).
 * transport({method, url, header, body}): the network; resolves {status, data} with data as
 * wx.request hands it over (parsed JSON, a string, or undefined for an empty body), rejects
 * for a request that got no HTTP answer.
 */
function createFakeWx({ code, transport }) {
  const storage = new Map()
  const later = (fn) => setImmediate(fn)
  const fake = {
    sessionValid: true,
    logins: 0,
    requests: [],
    storage,

    login({ success, fail }) {
      fake.logins += 1
      Promise.resolve()
        .then(code)
        .then(
          (value) => success({ errMsg: 'login:ok', code: value }),
          (error) => fail({ errMsg: `login:fail ${error.message}` }),
        )
    },

    checkSession({ success, fail }) {
      later(() => (fake.sessionValid ? success({ errMsg: 'checkSession:ok' }) : fail({ errMsg: 'checkSession:fail' })))
    },

    getRandomValues({ length, success }) {
      const bytes = new Uint8Array(crypto.randomBytes(length))
      later(() => success({ randomValues: bytes.buffer }))
    },

    // wx storage keeps a serialised copy, so later changes to the object do not leak in.
    getStorageSync: (key) => (storage.has(key) ? JSON.parse(storage.get(key)) : ''),
    setStorageSync: (key, value) => storage.set(key, JSON.stringify(value)),
    removeStorageSync: (key) => storage.delete(key),

    request({ url, method = 'GET', data, header = {}, success, fail }) {
      if (!METHODS.has(method)) {
        later(() => fail({ errMsg: `request:fail invalid method "${method}"` }))
        return
      }
      const target = method === 'GET' && data ? `${url}?${new URLSearchParams(data)}` : url
      const req = { method, url: target, header: { ...header }, body: method === 'GET' ? undefined : data }
      fake.requests.push(req)
      transport(req).then(
        ({ status, data: answer }) =>
          success({ statusCode: status, data: answer === undefined ? '' : answer, header: {} }),
        (error) => fail({ errMsg: `request:fail ${error.message}` }),
      )
    },
  }
  return fake
}

/** The transport for a real server: what wx.request does over HTTP. */
async function httpTransport({ method, url, header, body }) {
  const res = await fetch(url, { method, headers: header, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  try {
    return { status: res.status, data: JSON.parse(text) }
  } catch {
    return { status: res.status, data: text }
  }
}

module.exports = { createFakeWx, httpTransport }
