// Declarations for wxlogin-client, the Mini Program side of wxlogin (README.md in this folder explains each call).

/** The package's version. */
export declare const VERSION: string

/** The server's error codes (the contract's `error.code`) and the client's own three. */
export type WxLoginErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'invalid_code'
  | 'session_key_expired'
  | 'user_blocked'
  | 'signup_refused'
  | 'invalid_encrypted_data'
  | 'rate_limited'
  | 'wechat_error'
  | 'wechat_unavailable'
  | 'service_unavailable'
  | 'internal_error'
  | 'network_error'
  | 'login_failed'
  /**
   * An answer without the contract's error body: a proxy's, or API Gateway's own, e.g. 429 `Too Many Requests`
   * when a route's throttle is exhausted (no Retry-After: try again after a short, growing pause).
   */
  | 'http_error'

/** Every rejection of the client. */
export declare class WxLoginError extends Error {
  constructor(code: WxLoginErrorCode, message?: string, statusCode?: number)
  readonly name: 'WxLoginError'
  readonly code: WxLoginErrorCode
  /** Absent when the request got no HTTP answer (`network_error`, `login_failed`). */
  readonly statusCode?: number
}

interface WxCallbacks<T> {
  success(result: T): void
  fail(error: { errMsg: string }): void
}

/** The methods of `wx` the client calls; the global `wx` has them all. */
export interface WxApi {
  login(options: WxCallbacks<{ code: string; errMsg: string }>): void
  checkSession(options: WxCallbacks<{ errMsg: string }>): void
  getRandomValues(options: { length: number } & WxCallbacks<{ randomValues: ArrayBuffer }>): void
  request(options: {
    url: string
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD' | 'OPTIONS' | 'TRACE' | 'CONNECT'
    data?: unknown
    header?: Record<string, string>
    success(result: { statusCode: number; data: any; header?: Record<string, string> }): void
    fail(error: { errMsg: string }): void
  }): unknown
  getStorageSync(key: string): any
  setStorageSync(key: string, value: any): void
  removeStorageSync(key: string): void
}

export interface ClientOptions {
  /** The wxlogin API, e.g. `https://api.example.com` (a domain registered in the Mini Program's console). */
  baseUrl: string
  /**
   * Your own APIs (scheme, host and port, e.g. `https://orders.example.com`): the only hosts `callApi`
   * sends the access token to.
   */
  apiOrigins?: string[]
  /** Defaults to the global `wx`. */
  wx?: WxApi
  /** Sent with each login, for a server that serves several Mini Programs. */
  appid?: string
  /** The storage entry that keeps the session; `'wxlogin'` by default. */
  storageKey?: string
}

export interface Profile {
  nickName?: string
  avatarUrl?: string
  gender?: number
  language?: string
  city?: string
  province?: string
  country?: string
}

export interface Phone {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string
}

/** The user, as `GET /v1/me` answers. */
export interface User {
  openid: string
  /** jscode2session's: WeChat vouches for it. */
  unionid: string | null
  /** Named only by decrypted data, not yet confirmed by jscode2session: it links nothing. */
  claimedUnionid: string | null
  appid: string
  profile: Profile | null
  phone: Phone | null
  createdAt: string
  lastLoginAt: string
  /** WeChat's risk rank (0 lowest to 4) at sign-up, when the server asks for it; otherwise null. */
  riskRank: number | null
  linkedApps?: { appid: string; openid: string }[]
}

/**
 * Why encrypted data was not used: see README.md, "Results ... that are not ok". `stale`: the client has
 * already logged in again where that was needed; the page asks the user for the data once more.
 */
export interface Refusal {
  ok: false
  reason: 'denied' | 'stale' | 'failed'
  errMsg?: string
}

/** What `wx.getUserProfile`'s callback or the getPhoneNumber button's `e.detail` gives; extra fields stay behind. */
export interface UserDataDetail {
  errMsg?: string
  code?: string
  encryptedData?: string
  iv?: string
  rawData?: string
  signature?: string
  [other: string]: unknown
}

export interface RequestOptions {
  /** Must start with `/`: the token is only ever sent to baseUrl. */
  path: string
  /** `wx.request`'s methods: there is no PATCH. */
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  data?: unknown
  header?: Record<string, string>
}

export interface ApiCallOptions {
  /** Absolute; its origin must be one of `apiOrigins`, or the call throws a TypeError and sends nothing. */
  url: string
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  data?: unknown
  header?: Record<string, string>
}

export interface WxLoginClient {
  login(): Promise<{ openid: string; unionid: string | null }>
  /** The answer's body; `null` for 204. */
  request<T = any>(options: RequestOptions): Promise<T>
  /** A request to one of your APIs with the access token; refreshed before expiry and once on a 401. */
  callApi<T = any>(options: ApiCallOptions): Promise<T>
  /** The current access token (refreshed first when it has under a minute left), for your APIs only. */
  accessToken(): Promise<string>
  decryptProfile(
    detail: UserDataDetail,
  ): Promise<{ ok: true; profile: Profile; unionid: string | null; claimedUnionid: string | null } | Refusal>
  bindPhoneNumber(detail: UserDataDetail): Promise<{ ok: true; phone: Phone } | Refusal>
  /** `avatarUrl` must be https: upload chooseAvatar's temporary file first. */
  updateProfile(fields: { nickName?: string; avatarUrl?: string }): Promise<User>
  logout(): Promise<void>
  deleteAccount(): Promise<void>
}

export declare function createClient(options: ClientOptions): WxLoginClient
