/*
 * wxlogin client for Mini Programs: login, authorised requests and WeChat's
 * encrypted user data against a wxlogin server, and access tokens for the
 * developer's own APIs. CommonJS, no dependencies
 * beyond the `wx` API. Documentation: client/README.md in the wxlogin repository.
 *
 * This file is the library's only source: it lives inside the example's
 * miniprogramRoot because a Mini Program can require nothing outside it.
 * The npm package wxlogin-client ships it as its entry, with declarations.
 */
'use strict'

// The npm package's version (client/package.json), for those who copy this one file.
const VERSION = '0.2.0'

const STORAGE_KEY = 'wxlogin'
// A token this close to its expiry is not worth sending: it could die on the way.
const EXPIRY_MARGIN_MS = 60 * 1000
const STALE = Object.freeze({ ok: false, reason: 'stale' })
// scheme://host[:port] of an absolute http(s) URL; no userinfo, which could disguise the real host.
const ORIGIN = /^(https?:\/\/[^/?#@\\]+)(?:[/?#]|$)/i

class WxLoginError extends Error {
  constructor(code, message, statusCode) {
    super(message || code)
    this.name = 'WxLoginError'
    this.code = code
    // Absent when the request never got an HTTP answer.
    this.statusCode = statusCode
  }
}

function createClient(options) {
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const api = options.wx || wx
  const appid = options.appid
  const storageKey = options.storageKey || STORAGE_KEY

  let pending = null // the login in flight, shared by every caller
  let verified = null // the session this run has already checked, so requests skip wx.checkSession
  let refreshing = null // the access-token refresh in flight, shared by every caller
  // The developer's own APIs: the only hosts an access token is ever sent to.
  const apiOrigins = new Set((options.apiOrigins || []).map((url) => originOf(url)))

  function send(method, path, data, header) {
    // Concatenated onto baseUrl, a path not starting with "/" could move the token to another host.
    if (typeof path !== 'string' || path[0] !== '/') throw new TypeError('path must start with "/"')
    return sendTo(baseUrl + path, method, data, header)
  }

  function sendTo(url, method, data, header) {
    return new Promise((resolve, reject) => {
      api.request({
        url,
        method,
        data,
        header: Object.assign({ 'content-type': 'application/json' }, header),
        success: resolve,
        fail: (err) => reject(new WxLoginError('network_error', (err && err.errMsg) || 'request failed')),
      })
    })
  }

  function errorCode(res) {
    const error = res.data && res.data.error
    return (error && error.code) || 'http_error'
  }

  function failure(res) {
    const error = res.data && res.data.error
    return new WxLoginError(errorCode(res), (error && error.message) || `HTTP ${res.statusCode}`, res.statusCode)
  }

  function isUnauthorized(res) {
    return res.statusCode === 401 && errorCode(res) === 'unauthorized'
  }

  function bearer(session, header) {
    return Object.assign({}, header, { Authorization: `Bearer ${session.token}` })
  }

  function fresh(session) {
    return Boolean(session && session.token && session.expiresAt - EXPIRY_MARGIN_MS > Date.now())
  }

  function stored() {
    const session = api.getStorageSync(storageKey)
    return fresh(session) ? session : null
  }

  function save(answer) {
    // Only these fields are kept, whatever else an answer carries.
    const session = {
      token: answer.token,
      openid: answer.openid,
      unionid: answer.unionid || null,
      expiresAt: Date.now() + answer.expiresIn * 1000,
      accessToken: answer.accessToken,
      accessTokenExpiresAt: Date.now() + answer.accessTokenExpiresIn * 1000,
    }
    api.setStorageSync(storageKey, session)
    return session
  }

  function freshAccess(session) {
    return Boolean(session.accessToken && session.accessTokenExpiresAt - EXPIRY_MARGIN_MS > Date.now())
  }

  async function refreshAccessToken(current) {
    const res = await send('POST', '/v1/auth/token', undefined, bearer(current))
    // The session itself was revoked or expired: a new login answers a new access token too.
    if (isUnauthorized(res)) return renew(current.token)
    if (res.statusCode !== 200) throw failure(res)
    const refreshed = Object.assign({}, current, {
      accessToken: res.data.accessToken,
      accessTokenExpiresAt: Date.now() + res.data.accessTokenExpiresIn * 1000,
    })
    // A logout or another login while this was on the way wins: nothing is brought back.
    if (verified !== current) return refreshed
    api.setStorageSync(storageKey, refreshed)
    return (verified = refreshed)
  }

  // A valid access token: the kept one while it has more than a minute left (and is not the one an API
  // just refused), else a fresh one; callers at the same moment share one refresh.
  async function accessToken(refused) {
    const current = await session()
    if (freshAccess(current) && current.accessToken !== refused) return current.accessToken
    if (!refreshing) {
      const attempt = refreshAccessToken(current).finally(() => {
        if (refreshing === attempt) refreshing = null
      })
      refreshing = attempt
    }
    return (await refreshing).accessToken
  }

  // A request to one of the developer's own APIs, with the access token; a 401 refreshes it once.
  async function callApi({ url, method = 'GET', data, header }) {
    if (!apiOrigins.has(originOf(url))) {
      throw new TypeError(`${originOf(url)} is not in createClient's apiOrigins: access tokens go only there`)
    }
    const withToken = (token) => Object.assign({}, header, { Authorization: `Bearer ${token}` })
    const token = await accessToken()
    let res = await sendTo(url, method, data, withToken(token))
    // API Gateway's JWT authorizer answers a bare 401 {"message":"Unauthorized"}, whatever the cause.
    if (res.statusCode === 401) res = await sendTo(url, method, data, withToken(await accessToken(token)))
    if (res.statusCode >= 400) throw failure(res)
    return res.data === '' ? null : res.data
  }

  function forget() {
    verified = null
    api.removeStorageSync(storageKey)
  }

  function wxCall(name, params) {
    return new Promise((resolve, reject) => {
      api[name](Object.assign({}, params, { success: resolve, fail: reject }))
    })
  }

  async function wxLogin() {
    // From now on WeChat holds a new session_key for this device, which the stored session's server side
    // learns only if this login completes: kept, that session would send data the server cannot open.
    api.removeStorageSync(storageKey)
    const res = await wxCall('login').catch((err) => ({ errMsg: err && err.errMsg }))
    if (!res.code) throw new WxLoginError('login_failed', res.errMsg || 'wx.login gave no code')
    return res.code
  }

  async function idempotencyKey() {
    const res = await wxCall('getRandomValues', { length: 16 }).catch((err) => {
      throw new WxLoginError('login_failed', err && err.errMsg)
    })
    return Array.from(new Uint8Array(res.randomValues), (b) => b.toString(16).padStart(2, '0')).join('')
  }

  async function exchangeCode() {
    const code = await wxLogin()
    const header = { 'Idempotency-Key': await idempotencyKey() }
    const body = appid ? { code, appid } : { code }
    // An answer lost on the way may come after the server used the code: the same code
    // with the same key gets that session back, where a new code would need a new wx.login.
    const res = await send('POST', '/v1/auth/login', body, header).catch(() =>
      send('POST', '/v1/auth/login', body, header),
    )
    if (res.statusCode !== 200) throw failure(res)
    return save(res.data)
  }

  async function exchange() {
    try {
      return await exchangeCode()
    } catch (error) {
      // The contract's answer to a used or expired code is "call wx.login again"; once is enough.
      if (error.code !== 'invalid_code') throw error
      return exchangeCode()
    }
  }

  async function establish() {
    const saved = stored()
    if (saved) {
      // A stored token is only worth keeping while WeChat still holds the session_key the server has.
      const alive = await wxCall('checkSession').then(() => true, () => false)
      if (alive) return (verified = saved)
    }
    verified = null
    return (verified = await exchange())
  }

  function session() {
    if (fresh(verified)) return Promise.resolve(verified)
    if (!pending) {
      const attempt = establish().finally(() => {
        if (pending === attempt) pending = null
      })
      pending = attempt
    }
    return pending
  }

  // After a refusal of failedToken: log in again, unless another caller already has.
  async function renew(failedToken) {
    if (pending) await pending.catch(() => null)
    if (verified && verified.token !== failedToken) return verified
    forget()
    return session()
  }

  async function request({ path, method = 'GET', data, header }) {
    const current = await session()
    let res = await send(method, path, data, bearer(current, header))
    if (isUnauthorized(res)) {
      res = await send(method, path, data, bearer(await renew(current.token), header))
    }
    if (res.statusCode >= 400) throw failure(res)
    return res.data === '' ? null : res.data
  }

  // For data the WeChat client encrypted under the session_key of a wx.login: the latest one, or the one
  // before it, which the server keeps for a few minutes after a login replaces it.
  async function sendEncrypted(path, body) {
    let current = await session()
    let res = await send('POST', path, body, bearer(current))
    if (isUnauthorized(res)) {
      // The session is gone, not the key: the login that replaces it keeps the old key for a while.
      current = await renew(current.token)
      res = await send('POST', path, body, bearer(current))
    }
    if (res.statusCode === 200) return { ok: true, data: res.data }
    const code = errorCode(res)
    if (code === 'session_key_expired') {
      // WeChat no longer holds the server's key: logging in again gives the server the key new data will use.
      await renew(current.token)
      return STALE
    }
    if (code === 'invalid_encrypted_data') {
      // The server holds the key of this device's latest wx.login. While WeChat does too, data fetched
      // again opens, and a login would only make the user wait.
      const alive = await wxCall('checkSession').then(() => true, () => false)
      if (!alive) await renew(current.token)
      return STALE
    }
    throw failure(res)
  }

  return {
    async login() {
      const current = await session()
      return { openid: current.openid, unionid: current.unionid }
    },

    request,

    callApi,

    /** The current access token, refreshed first when it has less than a minute left. */
    accessToken: () => accessToken(),

    async decryptProfile(detail) {
      if (!detail || !detail.encryptedData || !detail.iv) return refused(detail)
      const fields = pick(detail, ['encryptedData', 'iv', 'rawData', 'signature'])
      const outcome = await sendEncrypted('/v1/profile/decrypt', fields)
      if (!outcome.ok) return outcome
      const { profile, unionid, claimedUnionid } = outcome.data
      return { ok: true, profile, unionid, claimedUnionid: claimedUnionid || null }
    },

    async bindPhoneNumber(detail) {
      if (detail && detail.code) {
        // The button's code does not depend on session_key, so it survives request()'s re-login.
        const phone = await request({ path: '/v1/profile/phone', method: 'POST', data: { code: detail.code } })
        return { ok: true, phone }
      }
      if (!detail || !detail.encryptedData || !detail.iv) return refused(detail)
      const outcome = await sendEncrypted('/v1/profile/phone', pick(detail, ['encryptedData', 'iv']))
      return outcome.ok ? { ok: true, phone: outcome.data } : outcome
    },

    updateProfile(fields) {
      // wx.request cannot send PATCH (its methods are OPTIONS GET HEAD POST PUT DELETE TRACE CONNECT).
      return request({ path: '/v1/me', method: 'POST', data: pick(fields || {}, ['nickName', 'avatarUrl']) })
    },

    async logout() {
      if (pending) await pending.catch(() => null)
      const current = verified || stored()
      // Forgotten first: whatever the server answers, this device is logged out.
      forget()
      if (!current) return
      const res = await send('POST', '/v1/auth/logout', undefined, bearer(current))
      if (res.statusCode >= 400 && !isUnauthorized(res)) throw failure(res)
    },

    async deleteAccount() {
      await request({ path: '/v1/me', method: 'DELETE' })
      forget()
    },
  }
}

// getUserProfile and getPhoneNumber word a refusal differently per platform and version:
// "getPhoneNumber:fail user deny", "getPhoneNumber:fail:user deny", "getUserProfile:fail auth deny".
function refused(detail) {
  const errMsg = String((detail && detail.errMsg) || '')
  return { ok: false, reason: /deny|denied|cancel/i.test(errMsg) ? 'denied' : 'failed', errMsg }
}

function originOf(url) {
  const match = ORIGIN.exec(String(url))
  if (!match) throw new TypeError(`not an absolute http(s) URL without userinfo: ${url}`)
  return match[1].toLowerCase()
}

function pick(source, names) {
  const picked = {}
  for (const name of names) if (source[name] !== undefined) picked[name] = source[name]
  return picked
}

module.exports = { createClient, WxLoginError, VERSION }
