'use strict'
const { createClient } = require('../wxlogin.js')
const { createBackend } = require('./fake-backend.js')
const { createFakeWx } = require('./fake-wx.js')

/** A client on a fake wx against the in-memory backend; wx.login hands out code-1, code-2, ... */
function setup(options = {}) {
  const backend = createBackend()
  let codes = 0
  const wx = createFakeWx({ code: async () => `code-${++codes}`, transport: backend.transport })
  const client = createClient({ baseUrl: 'https://api.example.com', wx, ...options })
  return { backend, wx, client, restart: () => createClient({ baseUrl: 'https://api.example.com', wx, ...options }) }
}

// What the client keeps in wx storage, and nothing else.
const STORED_FIELDS = ['accessToken', 'accessTokenExpiresAt', 'expiresAt', 'openid', 'token', 'unionid']

module.exports = { setup, STORED_FIELDS }
