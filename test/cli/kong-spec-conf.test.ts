/**
 * Kong's configuration loader spec, spec/01-unit/03-conf_loader_spec.lua at Kong commit 22246ef2,
 * for the kong.conf settings Tollgate reads: from Kong's environment variables (`gateway start`'s
 * parse of KONG_*), from `_tollgate` (`gateway validate`), and the listener objects a real
 * gateway's admin `GET /` shows. Cases covered elsewhere: KONG_SSL_CERT/KONG_SSL_CERT_KEY (paths,
 * PEM, base64, pairs, the refusals: kong-env.test.ts), KONG_PORT_MAPS and KONG_TRUSTED_IPS
 * (kong-env.test.ts), IPv4 listener objects and their flags (admin-root.test.ts), listen flags
 * (listen-flags.test.ts). Not ported: the database, clustering, vaults, wasm, the nginx template
 * and prefix, dynamic `nginx_*` directives, pluginserver and admin_gui cases; kong.conf settings
 * Tollgate refuses with what does their job (src/config/kong-unsupported.ts: `headers`,
 * `node_id`, `lua_max_req_headers`, `database`, ...).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStartArgs, type StartArgs } from '../../src/cli/start.ts';
import { parseListen } from '../../src/config/listen.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { validateText } from '../support/validate.ts';
import { tmp, write } from './helpers.ts';

function parsed(env: Record<string, string>): StartArgs {
  const r = parseStartArgs([], env);
  assert.ok(typeof r !== 'string', String(r));
  return r;
}

/** `gateway validate` of a file with these `_tollgate` settings (YAML lines): exit code and output. */
async function settings(lines: string): Promise<{ code: number; out: string }> {
  const v = await validateText(`_format_version: "3.0"\n_tollgate:\n${lines.replace(/^/gm, '  ')}\n`);
  return { code: v.code, out: v.out + v.err };
}

test("extracts 'off' from the listen settings: an `off` first entry turns the listener off, a name holding 'off' does not", () => {
  for (const name of ['KONG_PROXY_LISTEN', 'KONG_ADMIN_LISTEN', 'KONG_STATUS_LISTEN']) {
    const key =
      ({ KONG_PROXY_LISTEN: 'proxyListen', KONG_ADMIN_LISTEN: 'adminListen' } as const)[name] ?? 'statusListen';
    assert.deepEqual(parsed({ [name]: 'off' })[key], [], name);
    // Kong: "off" as a first entry returns empty tables (kong/conf_loader/listeners.lua).
    assert.deepEqual(parsed({ [name]: 'off, 127.0.0.1:9000' })[key], [], `${name}: off with more entries`);
    assert.deepEqual(parsed({ [name]: 'offshore.test:9000' })[key], ['offshore.test:9000'], name);
    assert.equal(parseListen('offshore.test:9000').host, 'offshore.test');
  }
  // Kong refuses `off` after an address (not of the form <ip>:<port>), and so does Tollgate.
  assert.match(String(parseStartArgs([], { KONG_PROXY_LISTEN: '127.0.0.1:9000, off' })), /^KONG_PROXY_LISTEN/);
});

test('extracts ssl flags properly when host names contain them', () => {
  assert.deepEqual(parsed({ KONG_PROXY_LISTEN: 'ssl.myname.test:8000' }).proxyListen, ['ssl.myname.test:8000']);
  const plain = parseListen('ssl.myname.test:8000');
  assert.deepEqual([plain.host, plain.ssl], ['ssl.myname.test', false]);
  const tls = parseListen('ssl_myname.test:8000 ssl');
  assert.deepEqual([tls.host, tls.ssl], ['ssl_myname.test', true]);
  // Kong's `ssl:23`: a host named ssl, not the flag.
  assert.deepEqual([parseListen('ssl:23').host, parseListen('ssl:23').ssl], ['ssl', false]);
});

test('enforces the listen address format, and rejects an empty listen setting', async () => {
  for (const name of ['KONG_PROXY_LISTEN', 'KONG_ADMIN_LISTEN']) {
    // Kong: `<name> must be of form: [off] | <ip>:<port> [ssl] [http2] ...`
    assert.match(
      String(parseStartArgs([], { [name]: '127.0.0.1' })),
      new RegExp(`^${name}: invalid listen address '127\\.0\\.0\\.1': expected HOST:PORT`),
    );
    assert.match(String(parseStartArgs([], { [name]: '' })), new RegExp(`^${name} needs an address, or off$`));
  }
  const file = await settings('proxy_listen: ["127.0.0.1"]');
  assert.equal(file.code, 1);
  assert.match(file.out, /_tollgate\.proxy_listen\[0\] +invalid listen address: expected HOST:PORT/);
});

test("parses IPv6 listen addresses: GET / shows them in Kong's normalized form", async () => {
  const dir = tmp();
  const file = write(dir, 'kong.yml', '_format_version: "3.0"\n');
  const inst = await TollgateInstance.start({
    configFile: file,
    env: {},
    proxyListen: ['[::1]:0', '[0:0::1]:0 reuseport backlog=511'],
    adminListen: ['[::1]:0'],
  });
  try {
    const root = (await (await fetch(`http://${inst.adminAddresses[0]}/`)).json()) as {
      configuration: Record<string, Record<string, unknown>[]>;
    };
    const ip = '[0000:0000:0000:0000:0000:0000:0000:0001]';
    const [a, b] = root.configuration.proxy_listeners;
    const [admin] = root.configuration.admin_listeners;
    assert.deepEqual([a!.ip, a!.listener], [ip, `${ip}:${a!.port}`]);
    assert.deepEqual([b!.ip, b!.listener], [ip, `${ip}:${b!.port} reuseport backlog=511`]);
    assert.deepEqual([admin!.ip, admin!.listener, admin!.ssl], [ip, `${ip}:${admin!.port}`, false]);
  } finally {
    await inst.close(0);
  }
});

test('list settings are comma-separated and trimmed, as kong.conf infers arrays', () => {
  const r = parsed({
    KONG_PROXY_LISTEN: ' 127.0.0.1:9000 ,  127.0.0.1:9443 ssl ',
    KONG_PORT_MAPS: ' 80:8000 , 443:8443 ',
    KONG_PLUGINS: ' bundled ',
    KONG_TRUSTED_IPS: ' 10.0.0.0/8 , ::1 ',
  });
  assert.deepEqual(r.proxyListen, ['127.0.0.1:9000', '127.0.0.1:9443 ssl']);
  assert.deepEqual(r.kongIgnored, [], "Kong's default plugins = bundled, spaces around it");
});

test("values with an octothorpe are kept whole: Kong escapes '#' in environment variables", () => {
  assert.equal(parsed({ KONG_DECLARATIVE_CONFIG: '/kong/test#12#3.yml' }).config, '/kong/test#12#3.yml');
});

test("port_maps: empty when not set, a list when set, Kong's message for an invalid entry", async () => {
  assert.equal((await settings('port_maps: []')).code, 0);
  assert.equal((await settings('port_maps: ["80:8000", "443:8443"]')).code, 0);
  const bad = await settings('port_maps: ["src:dst"]');
  assert.equal(bad.code, 1);
  assert.match(bad.out, /_tollgate\.port_maps\[0\] +invalid port mapping \(`port_maps`\): src:dst/);
  assert.equal(
    String(parseStartArgs([], { KONG_PORT_MAPS: 'src:dst' })),
    'KONG_PORT_MAPS: invalid port mapping (`port_maps`): src:dst',
  );
});

test('enforces enums: a database other than off is refused, Kong 3.4+ has no cassandra', () => {
  for (const db of ['mysql', 'cassandra', 'postgres'])
    assert.match(
      String(parseStartArgs([], { KONG_DATABASE: db })),
      new RegExp(`^KONG_DATABASE=${db}: Tollgate runs DB-less only`),
    );
  assert.equal(parsed({ KONG_DATABASE: 'off' }).kongIgnored.length, 0);
});

test('dns_order: a bad entry is refused, naming it', async () => {
  assert.equal((await settings('dns_order: [LAST, SRV, A, CNAME]')).code, 0);
  const bad = await settings('dns_order: [A, CXAME, SRV]');
  assert.equal(bad.code, 1);
  // Kong: `dns_order: invalid entry 'CXAME'`
  assert.match(bad.out, /_tollgate\.dns_order\[1\] +expected one of: LAST, SRV, A, AAAA, CNAME/);
});

test('upstream keepalive properties: accepted, 0 accepted, negative values refused', async () => {
  const ok = await settings(
    'upstream_keepalive_pool_size: 10\nupstream_keepalive_max_requests: 20\nupstream_keepalive_idle_timeout: 30',
  );
  assert.equal(ok.code, 0, ok.out);
  for (const name of [
    'upstream_keepalive_pool_size',
    'upstream_keepalive_max_requests',
    'upstream_keepalive_idle_timeout',
  ]) {
    assert.equal((await settings(`${name}: 0`)).code, 0, name);
    const neg = await settings(`${name}: -1`);
    assert.equal(neg.code, 1, name);
    // Kong: `<name> must be 0 or greater`
    assert.match(neg.out, new RegExp(`_tollgate\\.${name} +value should be between 0 and \\d+`));
  }
});

test('the request header limit takes 1 and refuses 0, as lua_max_req_headers; its kong.conf name says what replaces it', async () => {
  assert.equal((await settings('max_request_headers: 1')).code, 0);
  const zero = await settings('max_request_headers: 0');
  assert.equal(zero.code, 1);
  assert.match(zero.out, /_tollgate\.max_request_headers +value should be between 1 and 10000/);
  const kong = await settings('lua_max_req_headers: 100');
  assert.match(kong.out, /'lua_max_req_headers' is a kong.conf setting: here it is `max_request_headers`/);
});

test("nginx_main_worker_processes, the property nginx_worker_processes is Kong's alias of, sets the workers and wins over the alias", () => {
  assert.equal(parsed({ KONG_NGINX_MAIN_WORKER_PROCESSES: '2' }).workers, 2);
  assert.equal(parsed({ KONG_NGINX_WORKER_PROCESSES: '3', KONG_NGINX_MAIN_WORKER_PROCESSES: '2' }).workers, 2);
  assert.equal(parsed({ KONG_NGINX_WORKER_PROCESSES: '3' }).workers, 3);
  assert.match(
    String(parseStartArgs([], { KONG_NGINX_MAIN_WORKER_PROCESSES: '0' })),
    /^KONG_NGINX_MAIN_WORKER_PROCESSES must be a number from 1 or 'auto'/,
  );
  // nginx_main_daemon (alias nginx_daemon): whether nginx forks away, nothing to do here.
  const r = parsed({
    KONG_NGINX_MAIN_WORKER_PROCESSES: 'auto',
    KONG_NGINX_MAIN_DAEMON: 'off',
    KONG_NGINX_DAEMON: 'off',
  });
  assert.deepEqual(r.kongIgnored, []);
});

test('nginx_main_worker_processes in `_tollgate` says what sets the workers, as its alias does', async () => {
  for (const name of ['nginx_worker_processes', 'nginx_main_worker_processes']) {
    const r = await settings(`${name}: auto`);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`'${name}' is a kong.conf setting: start with \`gateway start --workers N\``));
  }
});

test('dns_hostsfile: a file that does not exist is refused, an existing one accepted', async () => {
  const missing = await settings('dns_hostsfile: /nonexistent/tollgate/hosts');
  assert.equal(missing.code, 1, missing.out);
  // Kong: `dns_hostsfile: file does not exist`
  assert.match(missing.out, /_tollgate\.dns_hostsfile +file does not exist/);
  const dir = tmp();
  const hosts = write(dir, 'hosts', '127.0.0.1 localhost\n');
  assert.equal((await settings(`dns_hostsfile: ${hosts}`)).code, 0);
  assert.equal((await settings('dns_hostsfile: null')).code, 0);
});
