'use strict'
// `python -m local.stack` (what `make run` serves) as a child process on free ports, and a
// WeChat client played through the simulator's dev routes, for the tests against the real server.
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { createFakeWx, httpTransport } = require('./fake-wx.js')

const ROOT = path.resolve(__dirname, '..', '..')
// WXLOGIN_PYTHON: another interpreter (the tests point it at a missing one to see the skipped report).
const PYTHON = process.env.WXLOGIN_PYTHON || path.join(ROOT, '.venv', 'bin', 'python')
const APPID = 'wx0123456789abcdef'
const READY_TIMEOUT_MS = 60 * 1000

const hasPython = () => fs.existsSync(PYTHON)

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function startLocalStack() {
  const [api, moto, wechat] = [await freePort(), await freePort(), await freePort()]
  // Only what the stack needs: a developer's APP_ID or TOKEN_TTL_SECONDS must not change the tests.
  const env = {
    PATH: process.env.PATH,
    PORT: String(api),
    MOTO_PORT: String(moto),
    WXSIM_PORT: String(wechat),
    APP_ID: APPID,
  }
  // Its own process group, so one signal reaches the stack and every worker it started.
  const child = spawn(PYTHON, ['-m', 'local.stack'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk) => (output = (output + chunk).slice(-4000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal)
    } catch {
      // the group is gone already
    }
  }
  // Should the test run die first, no worker is left behind.
  const onExit = () => killGroup('SIGKILL')
  process.once('exit', onExit)

  const stack = {
    apiUrl: `http://127.0.0.1:${api}`,
    wechatUrl: `http://127.0.0.1:${wechat}`,
    async stop() {
      killGroup('SIGTERM')
      const timer = setTimeout(() => killGroup('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
      process.removeListener('exit', onExit)
    },
  }

  const deadline = Date.now() + READY_TIMEOUT_MS
  let done = false
  exited.then(() => (done = true))
  while (!done && Date.now() < deadline) {
    const status = await fetch(`${stack.apiUrl}/v1/me`).then((res) => res.status, () => 0)
    if (status === 401) return stack
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  await stack.stop()
  throw new Error(`the local stack did not answer GET /v1/me with 401 within 60 s:\n${output}`)
}

/**
 * One WeChat user on one phone: its wx.login, and the data the WeChat client hands the page.
 * transport: wx.request's network, HTTP unless a test needs to lose an answer.
 */
function createWeChatUser(stack, user, transport = httpTransport) {
  const sim = async (route, body) => {
    const res = await fetch(`${stack.wechatUrl}/_sim/${route}`, {
      method: 'POST',
      body: JSON.stringify({ appid: APPID, ...body }),
    })
    if (!res.ok) throw new Error(`simulator /_sim/${route}: ${res.status} ${await res.text()}`)
    return res.json()
  }
  // The simulator's openid for a user; the WeChat client knows it without asking our server.
  const openid = 'o' + crypto.createHash('sha256').update(`${APPID}\n${user}`).digest('base64url').slice(0, 27)
  const wx = createFakeWx({ code: async () => (await sim('login', { user })).code, transport })

  return {
    wx,
    openid,
    /** A wx.login whose code never reaches the server (a plugin's, a crashed page's): WeChat's key moves on. */
    async wxLoginElsewhere() {
      await sim('login', { user })
    },
    /** What wx.getUserProfile's success gives, encrypted under the user's current session_key. */
    async profileDetail() {
      const data = await sim('user-data', { openid, kind: 'profile' })
      return { errMsg: 'getUserProfile:ok', userInfo: JSON.parse(data.rawData), ...data }
    },
    /** What the getPhoneNumber button gives today: a one-time code. */
    async phoneCodeDetail() {
      return { errMsg: 'getPhoneNumber:ok', code: (await sim('phone-code', { openid })).code }
    },
    /** What it gave before the code existed: the number, encrypted like a profile. */
    async phoneEncryptedDetail() {
      return { errMsg: 'getPhoneNumber:ok', ...(await sim('user-data', { openid, kind: 'phone' })) }
    },
  }
}

module.exports = { APPID, PYTHON, hasPython, startLocalStack, createWeChatUser }
