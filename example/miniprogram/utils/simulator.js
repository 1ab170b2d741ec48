// Development only: against make run, codes must come from its WeChat simulator, because WeChat
// issued DevTools' codes for an app the simulator has never heard of. Everything else is the real wx.

function simulatedWeChat({ url, appid, user }) {
  const sim = (route, data) =>
    new Promise((resolve, reject) => {
      wx.request({
        url: `${url}/_sim/${route}`,
        method: 'POST',
        data: Object.assign({ appid }, data),
        success: (res) =>
          res.statusCode === 200 ? resolve(res.data) : reject(new Error(`simulator: HTTP ${res.statusCode}`)),
        fail: (err) => reject(new Error(`simulator unreachable (is make run up?): ${err.errMsg}`)),
      })
    })

  return {
    // The parts of wx the client library uses.
    wx: {
      login: ({ success, fail }) =>
        sim('login', { user }).then(
          (res) => success({ errMsg: 'login:ok', code: res.code }),
          (error) => fail({ errMsg: error.message }),
        ),
      // The simulator's session keys never expire; DevTools' checkSession knows only WeChat's.
      checkSession: ({ success }) => success({ errMsg: 'checkSession:ok' }),
      request: (options) => wx.request(options),
      getRandomValues: (options) => wx.getRandomValues(options),
      getStorageSync: (key) => wx.getStorageSync(key),
      setStorageSync: (key, value) => wx.setStorageSync(key, value),
      removeStorageSync: (key) => wx.removeStorageSync(key),
    },
    // A refusal stays a refusal, so the page's refusal path can be tried; anything else becomes
    // the code the getPhoneNumber button would have given.
    async phoneDetail(detail) {
      if (/deny/.test(detail.errMsg || '')) return detail
      const { code } = await sim('phone-code', { user })
      return { errMsg: 'getPhoneNumber:ok', code }
    },
  }
}

module.exports = { simulatedWeChat }
