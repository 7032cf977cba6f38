// examples/compose: the files fit together (what compose mounts exists, nginx balances over every
// replica, the gateway.yaml validates with the environment compose gives it), and the example runs:
// its own nginx.conf in a real nginx, in front of that gateway.yaml twice, sharing one real Redis.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfigFile } from '../../src/config/load.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Idp, startIdp } from '../support/idp.ts';
import { nginxUnavailable, startNginx, type TestNginx } from '../support/nginx.ts';
import { redisUnavailable, startRedis, type TestRedis } from '../support/redis.ts';
import { freePort } from '../support/upstream.ts';
import { composeEnv, type Doc, envReferences } from './helpers.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const DIR = join(ROOT, 'examples/compose');
const GATEWAY_YAML = join(DIR, 'config/gateway.yaml');

const compose = parse(await readFile(join(DIR, 'docker-compose.yml'), 'utf8'), { merge: true }) as Doc;
const nginx = await readFile(join(DIR, 'nginx.conf'), 'utf8');
const gatewayText = await readFile(GATEWAY_YAML, 'utf8');
const gateway = parse(gatewayText) as Doc;
const services = compose.services as Record<string, Doc>;
const replicas = Object.keys(services).filter(
  (name) => services[name]!.image === 'tollgate:local' && services[name]!.command === undefined,
);

function rateLimitingConfigs(doc: Doc): Doc[] {
  const out: Doc[] = [];
  const visit = (plugins: unknown): void => {
    for (const p of (plugins as Doc[] | undefined) ?? []) if (p.name === 'rate-limiting') out.push(p.config as Doc);
  };
  visit(doc.plugins);
  for (const s of (doc.services as Doc[]) ?? []) {
    visit(s.plugins);
    for (const r of (s.routes as Doc[]) ?? []) visit(r.plugins);
  }
  return out;
}

describe('examples/compose files', () => {
  test('two gateway replicas from the repository Dockerfile, each mounting the config folder at the image default path', () => {
    assert.ok(replicas.length >= 2, `gateway replicas: ${replicas.join(', ')}`);
    for (const name of replicas) {
      const s = services[name]!;
      assert.ok(
        existsSync(join(resolve(DIR, (s.build as Doc).context as string), 'Dockerfile')),
        `${name}: build context holds the Dockerfile`,
      );
      // A folder mount (a single-file bind mount would not see edits that replace the file),
      // holding the gateway.yaml these tests validate, where the image's default command reads it.
      const mount = (s.volumes as string[]).map((v) => v.split(':')).find((v) => v[1] === '/etc/tollgate');
      assert.ok(mount, `${name} mounts a folder at /etc/tollgate`);
      assert.equal(join(DIR, mount[0]!, 'gateway.yaml'), GATEWAY_YAML);
      assert.equal((s.depends_on as Doc).redis && ((s.depends_on as Doc).redis as Doc).condition, 'service_healthy');
    }
  });

  test('nginx publishes port 8000 and balances over every replica at its proxy port', () => {
    const lb = services.lb!;
    assert.ok((lb.ports as string[]).includes('8000:80'));
    assert.ok((lb.volumes as string[]).includes('./nginx.conf:/etc/nginx/nginx.conf:ro'));
    const proxyPort = ((gateway._tollgate as Doc).proxy_listen as string[])[0]!.split(':')[1];
    const upstream = /upstream tollgate \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    const servers = [...upstream.matchAll(/^\s*server\s+(\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(servers.sort(), replicas.map((r) => `${r}:${proxyPort}`).sort());
    assert.match(nginx, /proxy_pass http:\/\/tollgate;/);
    assert.match(nginx, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
  });

  test('gateway.yaml reaches compose services: the echo upstream at its listen port, Redis for every rate limit', () => {
    const echoListen = (services.echo!.command as string[]).join(' ');
    for (const s of gateway.services as Doc[]) {
      const u = new URL(s.url as string);
      assert.ok(services[u.hostname], `service host ${u.hostname} is a compose service`);
      assert.ok(echoListen.includes(`:${u.port}`), `echo listens on ${u.port}`);
    }
    const limits = rateLimitingConfigs(gateway);
    assert.ok(limits.length > 0);
    for (const c of limits) {
      assert.equal(c.policy, 'redis');
      assert.ok(services[(c.redis as Doc).host as string], 'redis.host is a compose service');
    }
  });

  test('nginx is trusted for X-Forwarded-For: the compose network is in trusted_ips', () => {
    const subnets = ((compose.networks as Doc).edge as Doc).ipam as Doc;
    const subnet = (subnets.config as Doc[])[0]!.subnet;
    assert.ok(((gateway._tollgate as Doc).trusted_ips as string[]).includes(subnet as string));
  });

  test('compose gives the replicas more time to stop than the gateway takes to drain', () => {
    const graceMs = ((gateway._tollgate as Doc).shutdown_grace_period as number | undefined) ?? 10_000;
    for (const name of replicas) {
      const s = /^(\d+)s$/.exec(services[name]!.stop_grace_period as string);
      assert.ok(s && Number(s[1]) * 1000 > graceMs, `${name} stop_grace_period`);
    }
  });

  test('gateway.yaml validates with the environment compose gives the replicas, and every ${...} is provided', async () => {
    for (const name of replicas) {
      const env = composeEnv(services[name]!.environment as Doc);
      for (const ref of envReferences(gatewayText)) assert.ok(env[ref] !== undefined, `${name} sets ${ref}`);
      const cfg = await loadConfigFile(GATEWAY_YAML, { env });
      assert.equal(cfg.consumers.length, 1);
    }
  });
});

/**
 * The example's nginx.conf as it would run on this machine: only addresses change (loopback ports
 * for compose's service names and port 80) and what Docker provides goes (its DNS resolver, and
 * `resolve`, which Debian's nginx does not have). Every proxy directive is the example's own.
 */
function loopbackNginxConf(listenPort: number, gatewayPorts: Map<string, number>): string {
  let conf = nginx.replace(/^\s*resolver .*;\n/m, '');
  for (const [name, port] of gatewayPorts) {
    conf = conf.replace(new RegExp(`server ${name}:\\d+( resolve)?`), `server 127.0.0.1:${port}`);
  }
  assert.doesNotMatch(conf, /server gateway-/, 'every replica of nginx.conf got a loopback address');
  return conf
    .replace(/listen 80;/, `listen 127.0.0.1:${listenPort};`)
    .replace(/http \{/, 'http {\n  client_body_temp_path tmp; proxy_temp_path tmp; access_log off;');
}

describe('examples/compose: its nginx.conf in front of two gateways sharing one Redis', () => {
  const skip = redisUnavailable() ?? nginxUnavailable();
  let redis: TestRedis;
  let idp: Idp;
  let lb: TestNginx;
  const gws: TestGateway[] = [];

  before(async () => {
    if (skip) return;
    redis = await startRedis();
    idp = await startIdp();
    // Only the addresses change: compose's service names become this machine's servers, and
    // nginx (on loopback now) is the trusted proxy.
    const doc = parse(gatewayText) as Doc;
    for (const s of doc.services as Doc[]) s.url = 'echo://';
    for (const c of rateLimitingConfigs(doc)) c.redis = { host: redis.host, port: redis.port };
    (doc._tollgate as Doc).trusted_ips = ['127.0.0.1/32'];
    // The browser login the README adds ("Pointing the jwt and oidc plugins at an Auth0 tenant"),
    // configured as it says: no redirect_uri, so the gateway builds it from the Host nginx sends.
    (doc.services as Doc[]).push({
      name: 'app',
      url: 'echo://',
      routes: [{ name: 'app', paths: ['/app'] }],
      plugins: [
        {
          name: 'oidc',
          config: {
            discovery: `${idp.issuer}/.well-known/openid-configuration`,
            ...idp.webClient,
            session_secret: 'compose-test-session-secret-0123456789',
          },
        },
      ],
    });
    const env = { DEMO_API_KEY: 'demo-key' };
    gws.push(await startGateway({ config: doc, env }), await startGateway({ config: doc, env }));
    const ports = new Map(replicas.sort().map((name, i) => [name, Number(new URL(gws[i]!.url).port)]));
    const port = await freePort();
    lb = await startNginx(loopbackNginxConf(port, ports), port);
  });
  after(async () => {
    await lb?.stop();
    await Promise.all(gws.map((g) => g.close()));
    await redis?.stop();
    await idp?.close();
  });

  const served = (g: TestGateway, path: string) =>
    g.logs.filter((l) => l.type === 'access' && String((l as { path?: string }).path ?? l.uri ?? '').startsWith(path))
      .length;

  test('the /api limit (5 a minute per consumer) holds across both replicas behind nginx: requests 6 and 7 get 429', {
    skip: skip ?? false,
  }, async () => {
    // The window is the UTC minute: do not start in its last seconds.
    const into = Date.now() % 60_000;
    if (into > 55_000) await new Promise((r) => setTimeout(r, 60_000 - into + 5));
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await fetch(`${lb.url}/api/orders`, { headers: { apikey: 'demo-key' } });
      statuses.push(r.status);
      if (i === 4) assert.equal(r.headers.get('x-ratelimit-remaining-minute'), '0');
      await r.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429], await lb.errors());
    for (const g of gws) assert.ok(served(g, '/api') > 0, 'nginx balanced requests onto both replicas');
  });

  test('through nginx: /api without the key gets 401, /echo is open and sees the client behind nginx', {
    skip: skip ?? false,
  }, async () => {
    const noKey = await fetch(`${lb.url}/api/orders`);
    assert.equal(noKey.status, 401);
    await noKey.arrayBuffer();
    const echo = await fetch(`${lb.url}/echo/hello`);
    assert.equal(echo.status, 200);
    const seen = (await echo.json()) as Doc;
    assert.equal(seen.path, '/hello');
    // nginx appended the client's address; the gateway trusts nginx and forwards the chain.
    const xff = String((seen.headers as Doc)['x-forwarded-for']);
    assert.match(xff, /^127\.0\.0\.1(, 127\.0\.0\.1)?$/);
  });

  test("through nginx, the oidc login's redirect_uri keeps the port the browser used (the README's callback URL)", {
    skip: skip ?? false,
  }, async () => {
    // node:http, not fetch: fetch sends its own `Sec-Fetch-Mode: cors`, and the plugin answers
    // such requests 401 instead of starting a login.
    const r = await new Promise<IncomingMessage>((done, fail) =>
      httpGet(`${lb.url}/app/`, { headers: { accept: 'text/html' } }, done).on('error', fail),
    );
    r.resume();
    assert.equal(r.statusCode, 302);
    const login = new URL(r.headers.location ?? '');
    assert.equal(login.origin, idp.issuer);
    // nginx's $host drops the port: the IdP would then send the browser to port 80.
    assert.equal(login.searchParams.get('redirect_uri'), `${lb.url}/app/cb`);
  });
});
