const { createClient } = require('./lib/wxlogin.js')
const config = require('./config.js')
const { simulatedWeChat } = require('./utils/simulator.js')

const wechat = config.simulator ? simulatedWeChat(config.simulator) : { wx, phoneDetail: async (detail) => detail }

App({
  // One client for the whole Mini Program, so every page shares its one login.
  wxlogin: createClient({ baseUrl: config.baseUrl, apiOrigins: config.apiOrigins, wx: wechat.wx }),
  phoneDetail: wechat.phoneDetail,
})
