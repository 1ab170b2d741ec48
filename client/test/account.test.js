'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { setup } = require('../support/setup.js')

test('updateProfile sends only nickName and avatarUrl, with a method wx.request has', async () => {
  const { backend, wx, client } = setup()
  const fields = { nickName: '小明', avatarUrl: 'https://cdn.example.com/a.png', openid: 'oSomeoneElse' }
  const user = await client.updateProfile(fields)
  assert.deepEqual(user.profile, { nickName: '小明', avatarUrl: 'https://cdn.example.com/a.png' })
  assert.equal(user.openid, backend.user.openid)
  const [sent] = backend.sent(wx, 'POST /v1/me')
  assert.deepEqual(sent.body, { nickName: '小明', avatarUrl: 'https://cdn.example.com/a.png' })
})

test('logout revokes the token on the server and forgets it here', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  await client.logout()
  assert.equal(backend.sent(wx, 'POST /v1/auth/logout')[0].header.Authorization, 'Bearer token-1')
  assert.equal(backend.tokens.size, 0)
  assert.equal(wx.getStorageSync('wxlogin'), '')
  await client.login()
  assert.equal(wx.logins, 2)
})

test('logout of a token the server already dropped is no error, and logs nobody in', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.tokens.clear()
  backend.routes['POST /v1/auth/logout'] = () => ({ status: 401, data: { error: { code: 'unauthorized' } } })
  await client.logout()
  assert.equal(wx.logins, 1)
})

test('logout without a network still forgets the token on this device', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.once('POST /v1/auth/logout', () => {
    throw new Error('timeout')
  })
  await assert.rejects(client.logout(), { code: 'network_error' })
  assert.equal(wx.getStorageSync('wxlogin'), '')
})

test('logout when nobody is logged in sends nothing', async () => {
  const { wx, client } = setup()
  await client.logout()
  assert.equal(wx.requests.length, 0)
})

test('deleteAccount erases the user on the server and the token here', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  await client.deleteAccount()
  assert.equal(backend.sent(wx, 'DELETE /v1/me').length, 1)
  assert.equal(wx.getStorageSync('wxlogin'), '')
  await client.login()
  assert.equal(wx.logins, 2)
})
