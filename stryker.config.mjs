// `npm run mutation`: StrykerJS on the code where a silent bug is a breach, one group of modules at
// a time with the tests that exercise them (a group's dry run stays short). Every test file runs
// through tsx with node:test's TAP reporter; the TypeScript checker drops mutants that do not
// compile. Not part of `npm test` (it takes long). See docs/testing.md:
//   MUTATION_GROUP=router npx stryker run              one group
//   npx stryker run --mutate src/router/normalize.ts   one file (with the router group's tests)

/**
 * Each group: the files to mutate and the test files that run against the mutants. A mutant reruns
 * every test file that covers it in a fresh `node --import tsx` process, so the lists hold fast files:
 * unit tests first (a killed mutant stops at its first failing file), then few gateway-level files.
 */
export const groups = {
  router: {
    mutate: ['src/router/router.ts', 'src/router/sub-route.ts', 'src/router/normalize.ts', 'src/router/upstream-path.ts'],
    tests: ['test/router/*.test.ts'],
  },
  headers: {
    mutate: [
      'src/proxy/headers.ts',
      'src/proxy/request-checks.ts',
      'src/pipeline/request.ts',
      'src/pipeline/response.ts',
    ],
    tests: [
      'src/proxy/headers.test.ts',
      'src/proxy/request-checks.test.ts',
      'test/custom-plugins/run-plugin.test.ts',
      'test/custom-plugins/kit-agreement.test.ts',
      'test/custom-plugins/plugin-heads.test.ts',
      'test/proxy/core.test.ts',
      'test/proxy/forwarded.test.ts',
      'test/proxy/pipeline.test.ts',
    ],
  },
  jwt: {
    mutate: [
      'src/plugins/jwt/*.ts',
      'src/plugins/jwt-claims/*.ts',
      'src/lib/jwt.ts',
      'src/lib/jwks.ts',
      'src/lib/bounded-cache.ts',
      '!**/*.test.ts',
    ],
    tests: [
      'src/lib/bounded-cache.test.ts',
      'src/lib/jwt-verify.test.ts',
      'src/plugins/jwt/*.test.ts',
      'src/plugins/jwt-claims/*.test.ts',
      'src/lib/jwt.test.ts',
      'test/identity/jwt-idp.test.ts',
      'test/identity/repeat-and-near-miss.test.ts',
      'test/identity/auth0-fixture.test.ts',
      'test/identity/refusal-reasons.test.ts',
    ],
  },
  credentials: {
    mutate: ['src/plugins/{key-auth,acl,basic-auth,hmac-auth,session}/*.ts', '!**/*.test.ts'],
    tests: [
      'src/plugins/{key-auth,acl,basic-auth,hmac-auth,session}/*.test.ts',
      'test/identity/key-auth-acl.test.ts',
      'test/identity/repeat-and-near-miss.test.ts',
      'test/identity/refusal-reasons.test.ts',
    ],
  },
  oidc: {
    mutate: ['src/plugins/oidc/index.ts', 'src/plugins/oidc/session.ts', 'src/plugins/oidc/bearer.ts'],
    tests: ['src/plugins/oidc/*.test.ts', 'test/oidc/flow.test.ts', 'test/oidc/bearer.test.ts'],
  },
  // Where an IdP's fault is told from a refusal: a 503 (the IdP is down) or a 401 (log in again).
  'idp-outage': {
    mutate: ['src/lib/jwks.ts', 'src/plugins/oidc/provider.ts'],
    tests: ['src/lib/jwks.test.ts', 'src/plugins/oidc/callback.test.ts', 'test/oidc/refresh.test.ts'],
  },
  // The spelling of the names on an HTTP/1.1 head (clients match them case-sensitively).
  'head-spelling': {
    mutate: ['src/proxy/response-head.ts'],
    tests: ['src/proxy/response-head.test.ts'],
  },
  // What a Kong file loads to (or where it is refused): plugins' own config rules (Kong Gateway's
  // fields, renamed fields, protocols) as the loader applies them, repeated targets.
  'kong-file': {
    mutate: ['src/config/build/plugins.ts', 'src/lib/kong-config.ts', 'src/config/build/upstream.ts'],
    tests: [
      'test/config/kong-gateway-fields.test.ts',
      'test/custom-plugins/config-issues.test.ts',
      'test/config/duplicate-targets.test.ts',
    ],
  },
  // Where Tollgate reads a Kong config or a request as Kong does: ip-restriction's entries
  // (prefix spelling, brackets, zone ids), bot-detection's leading PCRE options, hmac-auth's header
  // names with `_`, the only-if-cached 504's key, the `kong` host of a request without Host and the
  // https redirect that must not name it. Line ranges: only those functions.
  'kong-parity-plugins': {
    mutate: [
      'src/plugins/ip-restriction/index.ts:23-55',
      'src/plugins/bot-detection/index.ts:40-61',
      'src/plugins/hmac-auth/signature.ts:69-83',
      'src/plugins/proxy-cache/index.ts:177-177',
      'src/proxy/request-checks.ts:127-130',
      'src/proxy/request-checks.ts:190-191',
      'src/proxy/reply.ts:229-249',
    ],
    tests: [
      'src/plugins/ip-restriction/ip-restriction.test.ts',
      'src/plugins/hmac-auth/hmac-auth.test.ts',
      'src/plugins/hmac-auth/hmac-auth-kit.test.ts',
      'src/plugins/proxy-cache/proxy-cache.test.ts',
      'src/proxy/request-checks.test.ts',
      'test/proxy/core.test.ts',
      'test/proxy/forwarded.test.ts',
      'test/tls/https.test.ts',
      'src/plugins/bot-detection/bot-detection.test.ts',
    ],
  },
  // aws-lambda's credentials: which source wins (config keys, the environment, the shared file, the
  // container endpoint, web identity, instance metadata), which routes may share a fetch, expiry,
  // early refresh and the failure hold. The files start stand-ins of STS, IMDS, ECS and Lambda.
  'aws-credentials': {
    mutate: ['src/plugins/aws-lambda/credentials.ts', 'src/plugins/aws-lambda/shared-file.ts'],
    tests: ['src/plugins/aws-lambda/credentials-sources.test.ts', 'src/plugins/aws-lambda/credentials.test.ts'],
  },
  // JSON to protobuf and back for grpc-gateway and grpc-web: range checks of integers and enums,
  // base64 bytes, Timestamps, the caps on messages, repeated values and depth; path templates.
  'grpc-transcode': {
    mutate: ['src/lib/grpc-transcode.ts', 'src/plugins/grpc-gateway/template.ts'],
    tests: [
      'src/plugins/grpc-gateway/template.test.ts',
      'src/plugins/grpc-gateway/grpc-gateway.test.ts',
      'src/plugins/grpc-web/json.test.ts',
    ],
  },
  // request-transformer's `$(...)` templates: which lookups Kong's syntax allows (headers with `_`
  // as `-`, `["name"]`, literals, `or`), the headers and query read as earlier plugins left them,
  // the bytes of a value as it goes to a header, a body, a querystring or (percent-encoded) a path.
  'request-templates': {
    mutate: ['src/plugins/request-transformer/template.ts'],
    tests: [
      'src/plugins/request-transformer/template-syntax.test.ts',
      'src/plugins/request-transformer/template-encoding.test.ts',
      'src/plugins/request-transformer/request-transformer.test.ts',
      'src/plugins/request-transformer/multipart.test.ts',
    ],
  },
  // grpc-gateway's `google.api.http` path templates alone: their syntax, `*`, `**`, `{var=...}`
  // and the `:verb`, matched segment by segment.
  'grpc-path-templates': {
    mutate: ['src/plugins/grpc-gateway/template.ts'],
    tests: ['src/plugins/grpc-gateway/template.test.ts', 'src/plugins/grpc-gateway/grpc-gateway.test.ts'],
  },
  // aws-lambda's shared credentials file alone: which file and profile, the INI section, the
  // 256 KiB bound, what an unreadable or absent file says.
  'aws-shared-file': {
    mutate: ['src/plugins/aws-lambda/shared-file.ts'],
    tests: [
      'src/plugins/aws-lambda/shared-file.test.ts',
      'src/plugins/aws-lambda/credentials.test.ts',
      'src/plugins/aws-lambda/credentials-sources.test.ts',
    ],
  },
};

const group = groups[process.env.MUTATION_GROUP ?? 'router'];
if (group === undefined) throw new Error(`MUTATION_GROUP must be one of ${Object.keys(groups).join(', ')}`);
// MUTATION_TESTS (comma-separated globs) replaces the group's test files, e.g. one file's own unit test.
const testFiles = process.env.MUTATION_TESTS?.split(',').filter(Boolean) ?? group.tests;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  tap: {
    testFiles,
    nodeArgs: ['--import', 'tsx', '--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
  },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: group.mutate,
  ignorePatterns: ['.stryker-tmp', 'reports', '.ci'],
  concurrency: 2,
  dryRunTimeoutMinutes: 15,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: `reports/mutation/${process.env.MUTATION_REPORT ?? process.env.MUTATION_GROUP ?? 'router'}.json` },
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
