'use strict'
// A wxlogin server in memory, answering as the contract says, for the tests that use a fake `wx`.
// Tests replace a route's next answers with once(), or a route for good through routes[...].

const OPENID = 'oFakeOpenid000000000000000000'

const error = (status, code) => ({ status, data: { error: { code, message: `fake ${code}` } } })

function createBackend() {
  const backend = {
    tokens: new Set(),
    accessTokens: new Set(),
    accessTokenExpiresIn: 900,
    issued: 0,
    codes: new Map(), // code -> {key, answer}: what a retry with the same Idempotency-Key gets back
    user: { openid: OPENID, unionid: null, appid: 'wx0123456789abcdef', profile: null, phone: null },
    pendingOnce: [],

    issueAccessToken() {
      const accessToken = `access-${backend.accessTokens.size + 1}`
      backend.accessTokens.add(accessToken)
      return { accessToken, accessTokenExpiresIn: backend.accessTokenExpiresIn }
    },

    once(route, reply) {
      backend.pendingOnce.push({ route, reply })
    },

    routes: {
      'POST /v1/auth/login': (req) => {
        const key = req.header['Idempotency-Key']
        const used = backend.codes.get(req.body.code)
        if (used) return used.key === key ? { status: 200, data: used.answer } : error(401, 'invalid_code')
        backend.issued += 1
        const token = `token-${backend.issued}`
        backend.tokens.add(token)
        const answer = {
          token,
          expiresIn: 3600,
          openid: OPENID,
          unionid: null,
          isNewUser: backend.issued === 1,
          ...backend.issueAccessToken(),
        }
        backend.codes.set(req.body.code, { key, answer })
        return { status: 200, data: answer }
      },
      'POST /v1/auth/token': authed(() => ({ status: 200, data: backend.issueAccessToken() })),
      // The developer's own API behind API Gateway's JWT authorizer, which answers its own bare 401.
      'GET /v1/examples/whoami': (req) =>
        backend.accessTokens.has(bearer(req))
          ? { status: 200, data: { openid: OPENID } }
          : { status: 401, data: { message: 'Unauthorized' } },
      'POST /v1/auth/logout': (req) => {
        backend.tokens.delete(bearer(req))
        return { status: 204 }
      },
      'GET /v1/me': authed(() => ({ status: 200, data: backend.user })),
      'POST /v1/me': authed((req) => {
        backend.user = { ...backend.user, profile: { ...backend.user.profile, ...req.body } }
        return { status: 200, data: backend.user }
      }),
      'DELETE /v1/me': authed(() => {
        backend.tokens.clear()
        return { status: 204 }
      }),
      'POST /v1/profile/decrypt': authed(() => ({
        status: 200,
        data: { profile: { nickName: '微信用户' }, unionid: null },
      })),
      'POST /v1/profile/phone': authed(() => ({
        status: 200,
        data: { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' },
      })),
    },

    /** For createFakeWx: answers like the server, after any queued once() replies. */
    async transport(req) {
      const route = `${req.method} ${new URL(req.url).pathname}`
      const index = backend.pendingOnce.findIndex((entry) => entry.route === route)
      if (index >= 0) {
        const [{ reply }] = backend.pendingOnce.splice(index, 1)
        return reply(req)
      }
      const handler = backend.routes[route]
      return handler ? handler(req) : error(404, 'not_found')
    },

    /** Requests sent to a route, from a fake wx's log. */
    sent(wx, route) {
      return wx.requests.filter((req) => `${req.method} ${new URL(req.url).pathname}` === route)
    },
  }

  function bearer(req) {
    return (req.header.Authorization || '').replace(/^Bearer /, '')
  }

  function authed(handler) {
    return (req) => (backend.tokens.has(bearer(req)) ? handler(req) : error(401, 'unauthorized'))
  }

  return backend
}

module.exports = { createBackend, error, OPENID }
