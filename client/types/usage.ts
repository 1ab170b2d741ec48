// Compiled by test/package.test.js with `tsc --strict`: the declarations fit the library's documented use,
// and refuse what the library refuses (each @ts-expect-error fails the compile if the types stop refusing it).
import { createClient, VERSION, WxLoginError } from 'wxlogin-client'
import type { Phone, User } from 'wxlogin-client'

const client = createClient({
  baseUrl: 'https://api.example.com',
  appid: 'wx0123456789abcdef',
  apiOrigins: ['https://orders.example.com'],
})

async function page(detail: { errMsg: string; code?: string }): Promise<string> {
  const { openid, unionid } = await client.login()
  const me: User = await client.request<User>({ path: '/v1/me' })
  const result = await client.bindPhoneNumber(detail)
  const phone: Phone | null = result.ok ? result.phone : null
  if (!result.ok && result.reason === 'stale') return 'tap again'
  const updated = await client.updateProfile({ nickName: 'n' })
  const orders = await client.callApi<{ id: string }[]>({ url: 'https://orders.example.com/v1/orders' })
  const bearer: string = await client.accessToken()
  await client.logout()
  await client.deleteAccount()
  return `${VERSION} ${openid} ${unionid ?? ''} ${me.appid} ${phone?.phoneNumber} ${updated.profile?.nickName} ${orders.length} ${bearer}`
}

function explain(error: unknown): number | undefined {
  return error instanceof WxLoginError && error.code === 'network_error' ? undefined : (error as WxLoginError).statusCode
}

function refusedSignUp(error: unknown, me: User): boolean {
  const rank: number | null = me.riskRank
  return (error instanceof WxLoginError && error.code === 'signup_refused') || (rank !== null && rank > 2)
}

// @ts-expect-error wx.request has no PATCH
client.request({ path: '/v1/me', method: 'PATCH' })
// @ts-expect-error baseUrl is required
createClient({})
// @ts-expect-error callApi takes an absolute url, not a path
client.callApi({ path: '/v1/orders' })
// @ts-expect-error only nickName and avatarUrl can be updated
client.updateProfile({ openid: 'o' })

export { explain, page, refusedSignUp }
