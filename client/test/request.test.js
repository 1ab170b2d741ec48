'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { error } = require('../support/fake-backend.js')
const { setup } = require('../support/setup.js')

test('request logs in first, sends the bearer token and resolves with the answer', async () => {
  const { backend, wx, client } = setup()
  assert.deepEqual(await client.request({ path: '/v1/me', header: { 'X-Trace': 'abc' } }), backend.user)
  const [sent] = backend.sent(wx, 'GET /v1/me')
  assert.equal(sent.header.Authorization, 'Bearer token-1')
  assert.equal(sent.header['X-Trace'], 'abc')
})

test('the page cannot replace the bearer token', async () => {
  const { backend, wx, client } = setup()
  await client.request({ path: '/v1/me', header: { Authorization: 'Bearer someone-else' } })
  assert.equal(backend.sent(wx, 'GET /v1/me')[0].header.Authorization, 'Bearer token-1')
})

test('a 401 unauthorized logs in again once and retries', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.tokens.clear() // revoked or expired on the server

  assert.deepEqual(await client.request({ path: '/v1/me' }), backend.user)
  assert.equal(wx.logins, 2)
  assert.deepEqual(
    backend.sent(wx, 'GET /v1/me').map((req) => req.header.Authorization),
    ['Bearer token-1', 'Bearer token-2'],
  )
})

test('a 401 after the new login reaches the caller: no loop', async () => {
  const { backend, wx, client } = setup()
  backend.routes['GET /v1/me'] = () => error(401, 'unauthorized')
  await assert.rejects(client.request({ path: '/v1/me' }), { code: 'unauthorized', statusCode: 401 })
  assert.equal(wx.logins, 2)
  assert.equal(backend.sent(wx, 'GET /v1/me').length, 2)
})

test('requests refused together share one new login', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.tokens.clear()
  await Promise.all([1, 2, 3].map(() => client.request({ path: '/v1/me' })))
  assert.equal(wx.logins, 2)
  assert.equal(backend.sent(wx, 'POST /v1/auth/login').length, 2)
})

test("the contract's error.code reaches the caller, with the status", async () => {
  const { backend, client } = setup()
  backend.once('GET /v1/me', () => error(429, 'rate_limited'))
  await assert.rejects(client.request({ path: '/v1/me' }), { name: 'WxLoginError', code: 'rate_limited', statusCode: 429 })
})

test('an answer without the contract body is http_error with its status', async () => {
  const { backend, client } = setup()
  backend.once('GET /v1/me', () => ({ status: 502, data: { message: 'Internal Server Error' } }))
  await assert.rejects(client.request({ path: '/v1/me' }), { code: 'http_error', statusCode: 502 })
})

test('a request that never got an answer is network_error', async () => {
  const { backend, client } = setup()
  await client.login()
  backend.once('GET /v1/me', () => {
    throw new Error('timeout')
  })
  await assert.rejects(client.request({ path: '/v1/me' }), { code: 'network_error', message: 'request:fail timeout' })
})

test('a 204 resolves with null', async () => {
  const { client } = setup()
  assert.equal(await client.request({ path: '/v1/me', method: 'DELETE' }), null)
})

test('the token only goes to the configured server: a path must start with "/"', async () => {
  const { wx, client } = setup()
  await assert.rejects(client.request({ path: '@evil.example/steal' }), TypeError)
  assert.equal(wx.requests.length, 1) // the login only
})
