'use strict'
// The client's flows against the real server: `python -m local.stack` (make run) on free ports,
// with the WeChat simulator playing wx.login and the encrypted data the WeChat client hands out.
const assert = require('node:assert/strict')
const { after, before, describe, test: nodeTest } = require('node:test')
const { createClient } = require('../wxlogin.js')
const { STORED_FIELDS } = require('../support/setup.js')
const { createFakeWx, httpTransport } = require('../support/fake-wx.js')
const { APPID, PYTHON, createWeChatUser, hasPython, startLocalStack } = require('../support/local-stack.js')
const { renderIndexPage } = require('../support/rendered-page.js')

const skip = !hasPython() && `no local stack: ${PYTHON} is missing (make run or make js-test creates .venv)`
// Each test skipped by itself, not the suite: Node counts a skipped suite's tests nowhere ("skipped 0"),
// and a fresh clone's `npm test` must show how many did not run, and why.
const test = (name, fn) => nodeTest(name, { skip }, fn)

describe('the client against the local stack', () => {
  let stack

  before(async () => {
    if (!skip) stack = await startLocalStack()
  }, { timeout: 70 * 1000 })

  after(() => stack && stack.stop())

  function phone(user, transport) {
    const wechat = createWeChatUser(stack, user, transport)
    const newClient = () => createClient({ baseUrl: stack.apiUrl, wx: wechat.wx })
    return { wechat, client: newClient(), restart: newClient }
  }

  const token = (wechat) => wechat.wx.getStorageSync('wxlogin').token

  // What another device, an expiry or an operator does to a token behind the client's back.
  const revoke = (bearer) =>
    fetch(`${stack.apiUrl}/v1/auth/logout`, { method: 'POST', headers: { Authorization: `Bearer ${bearer}` } })

  const statusWith = async (bearer) =>
    (await fetch(`${stack.apiUrl}/v1/me`, { headers: { Authorization: `Bearer ${bearer}` } })).status

  test('login keeps the token and the openid WeChat gave; a restart reuses them while the session lives', async () => {
    const { wechat, client, restart } = phone('alice')
    assert.deepEqual(await client.login(), { openid: wechat.openid, unionid: null })
    const me = await client.request({ path: '/v1/me' })
    assert.equal(me.openid, wechat.openid)
    assert.equal(me.appid, APPID)
    assert.deepEqual(Object.keys(wechat.wx.getStorageSync('wxlogin')).sort(), STORED_FIELDS)

    await restart().request({ path: '/v1/me' })
    assert.equal(wechat.wx.logins, 1)

    const before = token(wechat)
    wechat.wx.sessionValid = false
    await restart().login()
    assert.equal(wechat.wx.logins, 2)
    assert.notEqual(token(wechat), before)
  })

  test('one login in flight however many requests start together', async () => {
    const { wechat, client } = phone('bob')
    await Promise.all([1, 2, 3, 4, 5].map(() => client.request({ path: '/v1/me' })))
    assert.equal(wechat.wx.logins, 1)
    assert.equal(wechat.wx.requests.filter((req) => req.url.endsWith('/v1/auth/login')).length, 1)
  })

  test('a login answer lost on the way: the retry with the same code and key gets that same session', async () => {
    let lost = null
    const { wechat, client } = phone('carol', async (req) => {
      const answer = await httpTransport(req)
      if (!lost && req.url.endsWith('/v1/auth/login')) {
        lost = answer
        throw new Error('timeout')
      }
      return answer
    })
    await client.login()
    assert.equal(lost.status, 200)
    assert.equal(token(wechat), lost.data.token)
    assert.equal(wechat.wx.logins, 1)
    assert.equal(await statusWith(token(wechat)), 200)
  })

  test('a revoked token: request() logs in again by itself', async () => {
    const { wechat, client } = phone('dave')
    await client.login()
    await revoke(token(wechat))
    assert.equal((await client.request({ path: '/v1/me' })).openid, wechat.openid)
    assert.equal(wechat.wx.logins, 2)
  })

  test('profile: data obtained just before a new wx.login still decrypts; older data is stale, and asking again works', async () => {
    const { wechat, client } = phone('erin')
    await client.login()
    const fresh = await client.decryptProfile(await wechat.profileDetail())
    assert.equal(fresh.ok, true)
    assert.equal(fresh.profile.nickName, '微信用户')

    const old = await wechat.profileDetail()
    await revoke(token(wechat))
    await client.request({ path: '/v1/me' }) // logs in again: a new wx.login, a new session_key
    assert.equal(wechat.wx.logins, 2)
    assert.equal((await client.decryptProfile(old)).ok, true) // the server kept the key that login replaced

    await revoke(token(wechat))
    await client.request({ path: '/v1/me' }) // and again: the data's key is two logins old now
    assert.deepEqual(await client.decryptProfile(old), { ok: false, reason: 'stale' })
    assert.equal(wechat.wx.logins, 3) // wx.checkSession passed: no needless login

    assert.equal((await client.decryptProfile(await wechat.profileDetail())).ok, true)
    assert.equal((await client.request({ path: '/v1/me' })).profile.nickName, '微信用户')
  })

  test('a key WeChat dropped: one awaited call logs in again, and the data asked for anew decrypts', async () => {
    const { wechat, client } = phone('judy')
    await client.login()
    await wechat.wxLoginElsewhere() // WeChat now holds a key our server never got
    assert.deepEqual(await client.decryptProfile(await wechat.profileDetail()), { ok: false, reason: 'stale' })
    assert.equal(wechat.wx.logins, 2) // session_key_expired: the client logged in again by itself
    assert.equal((await client.decryptProfile(await wechat.profileDetail())).ok, true)
    assert.equal(wechat.wx.logins, 2)
  })

  test('a user who refuses the profile or the phone number gets a result, not an exception', async () => {
    const { client } = phone('frank')
    const errMsg = 'getPhoneNumber:fail user deny'
    assert.deepEqual(await client.bindPhoneNumber({ errMsg }), { ok: false, reason: 'denied', errMsg })
    assert.equal((await client.decryptProfile({ errMsg: 'getUserProfile:fail auth deny' })).reason, 'denied')
  })

  test("phone number: the button's code, then the legacy encrypted data", async () => {
    const { wechat, client } = phone('grace')
    await client.login()
    const bound = await client.bindPhoneNumber(await wechat.phoneCodeDetail())
    const phoneNumber = '13800138000'
    assert.deepEqual(bound, { ok: true, phone: { phoneNumber, purePhoneNumber: phoneNumber, countryCode: '86' } })
    assert.equal((await client.request({ path: '/v1/me' })).phone.phoneNumber, '13800138000')

    const legacy = await client.bindPhoneNumber(await wechat.phoneEncryptedDetail())
    assert.equal(legacy.ok, true)
    assert.equal(legacy.phone.purePhoneNumber, '13800138000')
  })

  test('the avatar/nickname fill-in: updateProfile (POST /v1/me, as wx.request cannot send PATCH)', async () => {
    const { client } = phone('heidi')
    const avatarUrl = 'https://cdn.example.com/avatars/heidi.png'
    const user = await client.updateProfile({ nickName: '海蒂', avatarUrl })
    assert.equal(user.profile.nickName, '海蒂')
    assert.equal(user.profile.avatarUrl, avatarUrl)
    // chooseAvatar's temporary file is not a URL anyone else can load: upload it first.
    await assert.rejects(client.updateProfile({ avatarUrl: 'http://tmp/avatar.png' }), {
      code: 'invalid_request',
      statusCode: 400,
    })
  })

  test("access token: the example API behind the template's JWT authorizer, refresh, and a new login once revoked", async () => {
    const wechat = createWeChatUser(stack, 'ivan')
    const newClient = () => createClient({ baseUrl: stack.apiUrl, wx: wechat.wx, apiOrigins: [stack.apiUrl] })
    const client = newClient()
    const whoami = `${stack.apiUrl}/v1/examples/whoami`
    assert.equal((await client.callApi({ url: whoami })).openid, wechat.openid)
    const first = wechat.wx.getStorageSync('wxlogin').accessToken
    assert.equal((await fetch(whoami, { headers: { Authorization: `Bearer ${token(wechat)}` } })).status, 401)

    // Near its expiry (here: a stored expiry in the past), the token is refreshed before the call.
    const expire = () =>
      wechat.wx.setStorageSync('wxlogin', { ...wechat.wx.getStorageSync('wxlogin'), accessTokenExpiresAt: 0 })
    expire()
    assert.equal((await newClient().callApi({ url: whoami })).openid, wechat.openid)
    // The session's access token is still young: the refresh answers that same token, with its true expiry.
    assert.equal(wechat.wx.getStorageSync('wxlogin').accessToken, first)
    assert.ok(wechat.wx.getStorageSync('wxlogin').accessTokenExpiresAt > Date.now() + 600 * 1000)
    assert.equal(wechat.wx.logins, 1)

    // Once the session is revoked, refresh is refused and the client logs in again for a new one.
    await revoke(token(wechat))
    expire()
    assert.equal((await newClient().callApi({ url: whoami })).openid, wechat.openid)
    assert.equal(wechat.wx.logins, 2)
  })

  test('logout revokes the token; deleteAccount erases the user', async () => {
    const { wechat, client } = phone('ivan')
    await client.login()
    const first = token(wechat)
    await client.logout()
    assert.equal(wechat.wx.getStorageSync('wxlogin'), '')
    assert.equal(await statusWith(first), 401)

    // Obtained before the login it triggers: the server keeps the key that login replaced.
    assert.equal((await client.decryptProfile(await wechat.profileDetail())).ok, true)
    const second = token(wechat)
    await client.deleteAccount()
    assert.equal(wechat.wx.getStorageSync('wxlogin'), '')
    assert.equal(await statusWith(second), 401)
    assert.equal((await client.request({ path: '/v1/me' })).profile, null) // a new user, nothing kept
  })

  test('the example page, rendered: log in, refuse then share the phone, fill in the profile, log out, delete', async (t) => {
    // The example's config names make run's default ports; this stack listens on others.
    const wx = createFakeWx({
      code: () => {
        throw new Error('the example takes its codes from the simulator')
      },
      transport: (req) =>
        httpTransport({
          ...req,
          url: req.url.replace('http://127.0.0.1:3000', stack.apiUrl).replace('http://127.0.0.1:3001', stack.wechatUrl),
        }),
    })
    wx.showModal = async () => ({ confirm: true })
    const { page, close } = renderIndexPage(wx)
    t.after(close)
    const idle = () => !page.instance.data.busy

    await page.open()
    assert.match(page.text('openid'), /^openid o[\w-]{27}$/)
    assert.equal(page.shows('login'), false)
    assert.equal(page.shows('message'), false)

    page.fire('share-phone', 'getphonenumber', { errMsg: 'getPhoneNumber:fail user deny' })
    await page.until(() => page.shows('settings'))
    assert.match(page.text('message'), /^You chose not to share your phone number/)
    page.fire('share-phone', 'getphonenumber', { errMsg: 'getPhoneNumber:ok', code: 'from-devtools' })
    await page.until(() => page.shows('phone') && idle())
    assert.equal(page.text('phone'), '13800138000')
    assert.equal(page.text('message'), 'Phone number saved: 13800138000')

    page.fire('logout')
    await page.until(() => page.shows('login'))
    assert.equal(page.shows('openid'), false)
    page.fire('login')
    await page.until(() => page.shows('openid') && idle())
    assert.equal(page.text('phone'), '13800138000') // the server kept it

    page.fire('avatar', 'chooseavatar', { avatarUrl: 'http://tmp/avatar.png' })
    page.fire('profile', 'submit', { value: { nickName: ' DevTools ' } })
    await page.until(() => page.shows('message') && idle())
    assert.equal(page.text('message'), 'Nickname saved; the avatar stays on this device (see uploadAvatar).')
    assert.equal(page.instance.data.me.profile.nickName, 'DevTools')

    page.fire('delete-account')
    await page.until(() => page.text('message') === 'Account deleted.')
    assert.equal(page.shows('login'), true)
    assert.equal(page.shows('openid'), false)
  })
})
