'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { error } = require('../support/fake-backend.js')
const { setup, STORED_FIELDS } = require('../support/setup.js')

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{16,128}$/

test('login sends the wx.login code with an Idempotency-Key and keeps only the tokens, openid, unionid, expiries', async () => {
  const { backend, wx, client } = setup()
  const issue = backend.routes['POST /v1/auth/login']
  backend.routes['POST /v1/auth/login'] = (req) => {
    const answer = issue(req)
    return { ...answer, data: { ...answer.data, session_key: 'must-not-be-kept' } }
  }

  assert.deepEqual(await client.login(), { openid: backend.user.openid, unionid: null })

  const [sent] = backend.sent(wx, 'POST /v1/auth/login')
  assert.deepEqual(sent.body, { code: 'code-1' })
  assert.match(sent.header['Idempotency-Key'], IDEMPOTENCY_KEY)
  const stored = wx.getStorageSync('wxlogin')
  assert.deepEqual(Object.keys(stored).sort(), STORED_FIELDS)
  assert.equal(stored.token, 'token-1')
  assert.ok(stored.expiresAt > Date.now() + 3500 * 1000)
  assert.doesNotMatch(JSON.stringify([...wx.storage]), /session_key|must-not-be-kept/)
})

test('the appid option picks the Mini Program on a server that serves several', async () => {
  const { backend, wx, client } = setup({ appid: 'wx0123456789abcdef' })
  await client.login()
  assert.deepEqual(backend.sent(wx, 'POST /v1/auth/login')[0].body, { code: 'code-1', appid: 'wx0123456789abcdef' })
})

test('a stored token is reused after a restart while wx.checkSession passes', async () => {
  const { backend, wx, client, restart } = setup()
  await client.login()
  assert.deepEqual(await restart().request({ path: '/v1/me' }), backend.user)
  assert.equal(wx.logins, 1)
  assert.equal(backend.sent(wx, 'POST /v1/auth/login').length, 1)
})

test('a failed wx.checkSession means a new wx.login', async () => {
  const { backend, wx, client, restart } = setup()
  await client.login()
  wx.sessionValid = false
  await restart().login()
  assert.equal(wx.logins, 2)
  assert.equal(wx.getStorageSync('wxlogin').token, 'token-2')
  assert.equal(backend.sent(wx, 'POST /v1/auth/login').length, 2)
})

test('an expired stored token means a new wx.login, without asking wx.checkSession', async () => {
  const { wx, client, restart } = setup()
  await client.login()
  wx.setStorageSync('wxlogin', { ...wx.getStorageSync('wxlogin'), expiresAt: Date.now() - 1 })
  await restart().login()
  assert.equal(wx.logins, 2)
})

test('one login in flight however many pages ask at once', async () => {
  const { backend, wx, client } = setup()
  await Promise.all([client.login(), client.login(), client.request({ path: '/v1/me' }), client.request({ path: '/v1/me' })])
  assert.equal(wx.logins, 1)
  assert.equal(backend.sent(wx, 'POST /v1/auth/login').length, 1)
})

test('a login answer lost on the way is fetched again with the same code and key', async () => {
  const { backend, wx, client } = setup()
  backend.once('POST /v1/auth/login', (req) => {
    backend.routes['POST /v1/auth/login'](req) // the server did log in; only its answer is lost
    throw new Error('timeout')
  })

  await client.login()

  const [first, retry] = backend.sent(wx, 'POST /v1/auth/login')
  assert.deepEqual(retry.body, first.body)
  assert.equal(retry.header['Idempotency-Key'], first.header['Idempotency-Key'])
  assert.equal(wx.logins, 1)
  assert.equal(wx.getStorageSync('wxlogin').token, 'token-1')
})

test('a second network failure reaches the caller as network_error', async () => {
  const { backend, client } = setup()
  const lost = () => {
    throw new Error('timeout')
  }
  backend.once('POST /v1/auth/login', lost)
  backend.once('POST /v1/auth/login', lost)
  await assert.rejects(client.login(), { name: 'WxLoginError', code: 'network_error', statusCode: undefined })
})

test('an HTTP error answer is not retried; its error.code reaches the caller', async () => {
  const { backend, wx, client } = setup()
  backend.once('POST /v1/auth/login', () => error(503, 'wechat_unavailable'))
  await assert.rejects(client.login(), { code: 'wechat_unavailable', statusCode: 503 })
  assert.equal(backend.sent(wx, 'POST /v1/auth/login').length, 1)
  assert.equal(wx.getStorageSync('wxlogin'), '')
})

test('invalid_code means one more wx.login, as the contract says', async () => {
  const { backend, wx, client } = setup()
  backend.once('POST /v1/auth/login', () => error(401, 'invalid_code'))
  await client.login()
  assert.equal(wx.logins, 2)
  assert.deepEqual(backend.sent(wx, 'POST /v1/auth/login').map((req) => req.body.code), ['code-1', 'code-2'])
})

test('invalid_code twice reaches the caller', async () => {
  const { backend, wx, client } = setup()
  backend.once('POST /v1/auth/login', () => error(401, 'invalid_code'))
  backend.once('POST /v1/auth/login', () => error(401, 'invalid_code'))
  await assert.rejects(client.login(), { code: 'invalid_code', statusCode: 401 })
  assert.equal(wx.logins, 2)
})

test('a failed wx.login rejects with login_failed and sends nothing', async () => {
  const { backend, wx, client } = setup()
  wx.login = ({ fail }) => setImmediate(() => fail({ errMsg: 'login:fail network' }))
  await assert.rejects(client.login(), { code: 'login_failed', message: 'login:fail network' })
  assert.equal(backend.sent(wx, 'POST /v1/auth/login').length, 0)
})

test('a failed login lets the next caller try again', async () => {
  const { backend, client } = setup()
  backend.once('POST /v1/auth/login', () => error(503, 'service_unavailable'))
  await assert.rejects(client.login(), { code: 'service_unavailable' })
  assert.equal((await client.login()).openid, backend.user.openid)
})
