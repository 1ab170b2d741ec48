'use strict'
const assert = require('node:assert/strict')
const { test } = require('node:test')
const { error } = require('../support/fake-backend.js')
const { setup } = require('../support/setup.js')

// What wx.getUserProfile's success hands the page (cloudID and userInfo are not the server's business).
const PROFILE_DETAIL = {
  errMsg: 'getUserProfile:ok',
  userInfo: { nickName: '微信用户', openid: 'oSomeoneElse' },
  rawData: '{"nickName":"微信用户"}',
  signature: 'a'.repeat(40),
  encryptedData: 'ZW5jcnlwdGVk',
  iv: 'aXZpdml2aXZpdml2aXZpdg==',
  cloudID: 'cloud-id',
}
const PHONE_DETAIL = { errMsg: 'getPhoneNumber:ok', code: 'phone-code', encryptedData: 'ZW5jcnlwdGVk', iv: 'aXY=' }

test('decryptProfile sends only the encrypted fields, never an openid from the page', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  assert.deepEqual(await client.decryptProfile(PROFILE_DETAIL), {
    ok: true,
    profile: { nickName: '微信用户' },
    unionid: null,
    claimedUnionid: null,
  })
  const [sent] = backend.sent(wx, 'POST /v1/profile/decrypt')
  assert.deepEqual(sent.body, {
    encryptedData: PROFILE_DETAIL.encryptedData,
    iv: PROFILE_DETAIL.iv,
    rawData: PROFILE_DETAIL.rawData,
    signature: PROFILE_DETAIL.signature,
  })
})

test('a user who refuses gets a result the page can act on, and nothing is sent', async () => {
  const { wx, client } = setup()
  for (const errMsg of ['getUserProfile:fail auth deny', 'getUserProfile:fail auth cancel']) {
    assert.deepEqual(await client.decryptProfile({ errMsg }), { ok: false, reason: 'denied', errMsg })
  }
  for (const errMsg of ['getPhoneNumber:fail user deny', 'getPhoneNumber:fail:user deny', 'getPhoneNumber:user deny']) {
    assert.deepEqual(await client.bindPhoneNumber({ errMsg }), { ok: false, reason: 'denied', errMsg })
  }
  const noPermission = 'getPhoneNumber:fail no permission'
  assert.deepEqual(await client.bindPhoneNumber({ errMsg: noPermission }), { ok: false, reason: 'failed', errMsg: noPermission })
  assert.equal(wx.requests.length, 0)
})

test('422 while WeChat still holds the key: ask for the data again, without a needless login', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.once('POST /v1/profile/decrypt', () => error(422, 'invalid_encrypted_data'))

  assert.deepEqual(await client.decryptProfile(PROFILE_DETAIL), { ok: false, reason: 'stale' })
  assert.equal(wx.logins, 1) // wx.checkSession passed: the server already holds the key new data will use
  assert.deepEqual(await client.decryptProfile(PROFILE_DETAIL), {
    ok: true,
    profile: { nickName: '微信用户' },
    unionid: null,
    claimedUnionid: null,
  })
})

test('422 after WeChat dropped the key: log in again, then ask for the data again', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.once('POST /v1/profile/decrypt', () => error(422, 'invalid_encrypted_data'))
  wx.sessionValid = false

  assert.deepEqual(await client.decryptProfile(PROFILE_DETAIL), { ok: false, reason: 'stale' })
  assert.equal(wx.logins, 2)
  assert.equal(wx.getStorageSync('wxlogin').token, 'token-2')
})

test('session_key_expired: one awaited call logs in again and tells the page to ask once more', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.once('POST /v1/profile/decrypt', () => error(401, 'session_key_expired'))

  // WeChat told the server its key is stale, whatever wx.checkSession says on this device.
  assert.deepEqual(await client.decryptProfile(PROFILE_DETAIL), { ok: false, reason: 'stale' })
  assert.equal(wx.logins, 2)
  assert.equal(wx.getStorageSync('wxlogin').token, 'token-2')
  assert.equal(backend.sent(wx, 'POST /v1/profile/decrypt').length, 1) // the data is not sent again
  assert.deepEqual(await client.decryptProfile(PROFILE_DETAIL), { ok: true, profile: { nickName: '微信用户' }, unionid: null, claimedUnionid: null })
  assert.equal(wx.logins, 2)
})

test('401 on encrypted data: log in again and send the data once more, since the server keeps the key it replaced', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.tokens.clear()
  assert.deepEqual(await client.decryptProfile(PROFILE_DETAIL), { ok: true, profile: { nickName: '微信用户' }, unionid: null, claimedUnionid: null })
  assert.equal(wx.logins, 2)
  const sent = backend.sent(wx, 'POST /v1/profile/decrypt')
  assert.deepEqual(sent.map((req) => req.header.Authorization), ['Bearer token-1', 'Bearer token-2'])
})

test('data fetched before the first login is still sent: the server keeps the key that login replaced', async () => {
  const { backend, wx, client } = setup()
  assert.equal((await client.decryptProfile(PROFILE_DETAIL)).ok, true)
  assert.equal(wx.logins, 1)
  assert.equal(backend.sent(wx, 'POST /v1/profile/decrypt').length, 1)
})

test('data fetched under a stored session that is still alive is used at once', async () => {
  const { wx, client, restart } = setup()
  await client.login()
  assert.equal((await restart().decryptProfile(PROFILE_DETAIL)).ok, true)
  assert.equal(wx.logins, 1)
})

test('a wx.login whose code never reached the server leaves no stored session behind', async () => {
  const { backend, wx, client, restart } = setup()
  await client.login()
  wx.sessionValid = false // the stored session's key has expired: the next start logs in again
  backend.routes['POST /v1/auth/login'] = () => error(503, 'service_unavailable')
  await assert.rejects(restart().login(), { code: 'service_unavailable' })
  // WeChat now holds the key of that wx.login, which the server never got: the old session must not come back.
  assert.equal(wx.getStorageSync('wxlogin'), '')
})

test('other errors on encrypted data reach the caller', async () => {
  const { backend, client } = setup()
  await client.login()
  backend.once('POST /v1/profile/decrypt', () => error(400, 'invalid_request'))
  await assert.rejects(client.decryptProfile(PROFILE_DETAIL), { code: 'invalid_request', statusCode: 400 })
})

test("bindPhoneNumber prefers the button's code and sends nothing else", async () => {
  const { backend, wx, client } = setup()
  const phone = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }
  assert.deepEqual(await client.bindPhoneNumber(PHONE_DETAIL), { ok: true, phone })
  assert.deepEqual(backend.sent(wx, 'POST /v1/profile/phone')[0].body, { code: 'phone-code' })
})

test("the button's code survives a re-login: it does not depend on session_key", async () => {
  const { backend, wx, client } = setup()
  await client.login()
  backend.tokens.clear()
  assert.equal((await client.bindPhoneNumber({ code: 'phone-code' })).ok, true)
  assert.equal(wx.logins, 2)
  assert.deepEqual(backend.sent(wx, 'POST /v1/profile/phone').map((req) => req.body.code), ['phone-code', 'phone-code'])
})

test('the legacy encryptedData/iv phone flow follows the stale-data rule', async () => {
  const { backend, wx, client } = setup()
  await client.login()
  const legacy = { errMsg: 'getPhoneNumber:ok', encryptedData: 'ZW5jcnlwdGVk', iv: 'aXY=' }
  assert.equal((await client.bindPhoneNumber(legacy)).phone.phoneNumber, '13800138000')
  assert.deepEqual(backend.sent(wx, 'POST /v1/profile/phone')[0].body, { encryptedData: 'ZW5jcnlwdGVk', iv: 'aXY=' })

  backend.once('POST /v1/profile/phone', () => error(422, 'invalid_encrypted_data'))
  assert.deepEqual(await client.bindPhoneNumber(legacy), { ok: false, reason: 'stale' })
  assert.equal(wx.logins, 1)
  backend.once('POST /v1/profile/phone', () => error(401, 'session_key_expired'))
  assert.deepEqual(await client.bindPhoneNumber(legacy), { ok: false, reason: 'stale' })
  assert.equal(wx.logins, 2)
})
