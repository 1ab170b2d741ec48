// Where the example connects. The defaults are `make run` on the computer running WeChat DevTools
// (a phone previewing the example would look for them on itself).
module.exports = {
  baseUrl: 'http://127.0.0.1:3000',
  // make run's WeChat simulator, which plays WeChat's server: the codes DevTools' own wx.login
  // and getPhoneNumber button give mean nothing to it. Set to null against a real deployment.
  simulator: { url: 'http://127.0.0.1:3001', appid: 'wx0123456789abcdef', user: 'devtools' },
  // Your own APIs' origins (scheme, host and port), the only ones the client sends the access token to,
  // e.g. ['https://orders.example.com']. make run serves the example API on baseUrl's own port.
  apiOrigins: ['http://127.0.0.1:3000'],
}
