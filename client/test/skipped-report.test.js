'use strict'
// A fresh clone's `npm test` has no .venv, so no local stack: its tests must be counted as skipped, each
// with the reason, rather than vanish from the summary.
const assert = require('node:assert/strict')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { test } = require('node:test')

test('without the local stack, its tests are reported as skipped with the reason', () => {
  const env = { ...process.env, WXLOGIN_PYTHON: '/nonexistent/python' }
  delete env.NODE_TEST_CONTEXT // run as a test run of its own, not as a subtest of this one
  const output = execFileSync(
    process.execPath,
    ['--test', '--test-reporter=tap', path.join(__dirname, 'local-stack.test.js')],
    { env, encoding: 'utf8' },
  )
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)[1])
  assert.ok(count('skipped') >= 11, output)
  assert.equal(count('pass'), 0)
  assert.equal(count('fail'), 0)
  assert.match(output, /# SKIP no local stack: \/nonexistent\/python is missing \(make run or make js-test creates \.venv\)/)
})
