const app = getApp()
const client = app.wxlogin

// WeChat's grey default avatar, shown until the user picks one.
const DEFAULT_AVATAR =
  'https://mmbiz.qpic.cn/mmbiz/icTdbqWNOwNRna42FI242Lcia07jQodd2FJGIYQfG0LAJGFxM4FbnQP6yfMxBgJ0F3YRqJCJ1aPAK2dQagdusBZg/0'

// chooseAvatar hands over a temporary file on this phone, and the server keeps only https URLs:
// upload the file to your storage here (wx.uploadFile) and resolve with its https URL.
// This example has no storage, so the chosen avatar stays on this device.
async function uploadAvatar(tempFilePath) {
  return null
}

const LOGGED_OUT = { me: null, meText: '', nickName: '', avatar: DEFAULT_AVATAR, chosenAvatar: '' }

Page({
  data: { ...LOGGED_OUT, message: '', askSettings: false, busy: false },

  // Handlers return their promise so that a test can wait for them; WeChat ignores it.
  onLoad() {
    // Logged in before the page can ask for any encrypted data, so that data is never stale on arrival.
    return this.run(() => this.showMe())
  },

  async run(action) {
    this.setData({ busy: true, message: '', askSettings: false })
    try {
      await action()
    } catch (error) {
      this.setData({ message: error.code ? `${error.code}: ${error.message}` : String(error) })
    } finally {
      this.setData({ busy: false })
    }
  },

  async showMe(me) {
    const user = me || (await client.request({ path: '/v1/me' }))
    const profile = user.profile || {}
    this.setData({
      me: user,
      meText: JSON.stringify(user, null, 2),
      nickName: profile.nickName || '',
      avatar: this.data.chosenAvatar || profile.avatarUrl || DEFAULT_AVATAR,
    })
  },

  onLogin() {
    return this.run(() => this.showMe())
  },

  onLogout() {
    return this.run(async () => {
      await client.logout()
      this.setData(LOGGED_OUT)
    })
  },

  async onDeleteAccount() {
    const { confirm } = await wx.showModal({
      title: 'Delete account?',
      content: 'Your profile, phone number and sessions are erased on the server.',
    })
    if (!confirm) return
    await this.run(async () => {
      await client.deleteAccount()
      this.setData({ ...LOGGED_OUT, message: 'Account deleted.' })
    })
  },

  onChooseAvatar(e) {
    this.setData({ chosenAvatar: e.detail.avatarUrl, avatar: e.detail.avatarUrl })
  },

  // The nickname is read from the form: WeChat may clear the input after its content check on blur.
  onSaveProfile(e) {
    return this.run(async () => {
      const fields = {}
      const nickName = (e.detail.value.nickName || '').trim()
      if (nickName) fields.nickName = nickName
      const avatarUrl = this.data.chosenAvatar && (await uploadAvatar(this.data.chosenAvatar))
      if (avatarUrl) fields.avatarUrl = avatarUrl
      if (!Object.keys(fields).length) {
        this.setData({ message: 'Nothing to save: type a nickname (the avatar needs uploadAvatar in index.js).' })
        return
      }
      await this.showMe(await client.updateProfile(fields))
      const kept = this.data.chosenAvatar && !avatarUrl
      this.setData({ message: kept ? 'Nickname saved; the avatar stays on this device (see uploadAvatar).' : 'Saved.' })
    })
  },

  onGetPhoneNumber(e) {
    return this.run(async () => {
      const result = await client.bindPhoneNumber(await app.phoneDetail(e.detail))
      if (result.ok) {
        await this.showMe()
        this.setData({ message: `Phone number saved: ${result.phone.phoneNumber}` })
      } else if (result.reason === 'denied') {
        this.setData({
          message: 'You chose not to share your phone number. Tap the button again whenever you like.',
          askSettings: true,
        })
      } else if (result.reason === 'stale') {
        this.setData({ message: 'That answer predates a fresh login. Please tap the button once more.' })
      } else {
        this.setData({ message: `WeChat could not give the phone number: ${result.errMsg}` })
      }
    })
  },
})
