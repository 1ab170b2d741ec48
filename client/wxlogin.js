// The library's single source is the copy the example Mini Program runs: see README.md, "One source".
module.exports = require('../example/miniprogram/lib/wxlogin.js')
