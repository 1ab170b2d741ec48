'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { setup } = require('../support/setup.js')

const API = 'https://orders.example.com'
const WHOAMI = `${API}/v1/examples/whoami`

test('callApi sends the access token to a named API and the session token stays with wxlogin', async () => {
  const { backend, wx, client } = setup({ apiOrigins: [`${API}/`] })
  assert.deepEqual(await client.callApi({ url: WHOAMI, header: { 'X-Trace': 'abc' } }), { openid: backend.user.openid })
  const [sent] = backend.sent(wx, 'GET /v1/examples/whoami')
  assert.equal(sent.header.Authorization, 'Bearer access-1')
  assert.equal(sent.header['X-Trace'], 'abc')
  await client.request({ path: '/v1/me' })
  assert.equal(backend.sent(wx, 'GET /v1/me')[0].header.Authorization, 'Bearer token-1')
  assert.equal(await client.accessToken(), 'access-1')
})

test('an access token never goes to a host nobody named', async () => {
  const { wx, client } = setup({ apiOrigins: [API] })
  for (const url of [
    'https://evil.example.com/v1/examples/whoami',
    'http://orders.example.com/v1/examples/whoami', // another scheme is another origin
    'https://orders.example.com:8443/v1/examples/whoami',
    'https://orders.example.com@evil.example.com/',
    'https://orders.example.com.evil.example.com/',
    '/v1/examples/whoami',
  ]) {
    await assert.rejects(client.callApi({ url }), TypeError, url)
  }
  assert.equal(wx.requests.length, 0)
  const { wx: other, client: none } = setup()
  await assert.rejects(none.callApi({ url: WHOAMI }), TypeError)
  assert.equal(other.requests.length, 0)
})

test('a token with less than a minute left is refreshed before the call, once for callers together', async () => {
  const { backend, wx, client } = setup({ apiOrigins: [API] })
  backend.accessTokenExpiresIn = 30
  await client.login()
  await Promise.all([1, 2, 3].map(() => client.callApi({ url: WHOAMI })))
  assert.equal(backend.sent(wx, 'POST /v1/auth/token').length, 1)
  assert.equal(backend.sent(wx, 'POST /v1/auth/token')[0].header.Authorization, 'Bearer token-1')
  assert.deepEqual(
    backend.sent(wx, 'GET /v1/examples/whoami').map((req) => req.header.Authorization),
    ['Bearer access-2', 'Bearer access-2', 'Bearer access-2'],
  )
  assert.equal(wx.getStorageSync('wxlogin').accessToken, 'access-2')
})

test('a 401 from the API refreshes the access token once and retries; a second 401 reaches the caller', async () => {
  const { backend, wx, client } = setup({ apiOrigins: [API] })
  await client.login()
  backend.accessTokens.clear() // e.g. signed by a key the API no longer trusts
  assert.deepEqual(await client.callApi({ url: WHOAMI }), { openid: backend.user.openid })
  assert.deepEqual(
    backend.sent(wx, 'GET /v1/examples/whoami').map((req) => req.header.Authorization),
    ['Bearer access-1', 'Bearer access-1'],
  )

  backend.routes['GET /v1/examples/whoami'] = () => ({ status: 401, data: { message: 'Unauthorized' } })
  await assert.rejects(client.callApi({ url: WHOAMI }), { statusCode: 401 })
  assert.equal(backend.sent(wx, 'POST /v1/auth/token').length, 2)
})

test('refresh refused (the session was revoked): one new login brings a new access token', async () => {
  const { backend, wx, client } = setup({ apiOrigins: [API] })
  backend.accessTokenExpiresIn = 30
  await client.login()
  backend.tokens.clear()
  assert.deepEqual(await client.callApi({ url: WHOAMI }), { openid: backend.user.openid })
  assert.equal(wx.logins, 2)
  assert.equal(wx.getStorageSync('wxlogin').token, 'token-2')
})

test('logout forgets the access token with the session', async () => {
  const { wx, client } = setup({ apiOrigins: [API] })
  await client.login()
  await client.logout()
  assert.equal(wx.getStorageSync('wxlogin'), '')
})
