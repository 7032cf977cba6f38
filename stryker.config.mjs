// `npm run mutation`: StrykerJS on the code where a silent bug is a breach. Every test file runs
// through tsx with node:test's TAP reporter; the TypeScript checker drops mutants that do not
// compile. Not part of `npm test` (it takes long); see docs/testing.md for running one module:
//   npm run mutation -- --mutate src/router/normalize.ts
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  tap: {
    testFiles: [
      'src/plugins/{jwt,jwt-claims,key-auth,acl,basic-auth,hmac-auth,session,oidc}/**/*.test.ts',
      'test/{identity,oidc,router,proxy}/**/*.test.ts',
      'test/traffic/access-plugins.test.ts',
    ],
    nodeArgs: ['--import', 'tsx', '--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
  },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/plugins/{jwt,jwt-claims,key-auth,acl,basic-auth,hmac-auth,session}/**/*.ts',
    'src/plugins/oidc/{index,session,bearer}.ts',
    'src/lib/jwt/**/*.ts',
    'src/router/{router,normalize}.ts',
    'src/proxy/{headers,request-checks}.ts',
    'src/pipeline/request.ts',
    '!**/*.test.ts',
  ],
  ignorePatterns: ['.stryker-tmp', 'reports', 'docs', '.ci'],
  concurrency: 2,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
