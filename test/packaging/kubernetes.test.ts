// examples/kubernetes: every manifest parses and has what running Tollgate safely needs (probes on
// the status listener, the admin API on loopback, a termination grace period covering preStop +
// drain, the ConfigMap mounted so that updates arrive, every ${...} fed from env/Secret), and the
// ConfigMap's gateway.yaml validates.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigFile } from '../../src/config/load.ts';
import { cleanEnv, gateway } from '../cli/helpers.ts';
import { parseDockerfile } from './dockerfile.ts';
import { type Doc, envReferences } from './helpers.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const DIR = join(ROOT, 'examples/kubernetes');

const files = (await readdir(DIR)).filter((f) => f.endsWith('.yaml')).sort();
const manifests: (Doc & { file: string })[] = [];
for (const file of files) {
  if (file === 'kustomization.yaml') continue;
  for (const doc of parseAllDocuments(await readFile(join(DIR, file), 'utf8'))) {
    assert.deepEqual(doc.errors, [], `${file} parses`);
    manifests.push({ ...(doc.toJS() as Doc), file });
  }
}
const one = (kind: string): Doc => {
  const all = manifests.filter((m) => m.kind === kind);
  assert.equal(all.length, 1, `exactly one ${kind}`);
  return all[0]!;
};
const get = (o: unknown, path: string): any => path.split('.').reduce<any>((v, k) => (v == null ? undefined : v[k]), o);

const deployment = one('Deployment');
const podSpec = get(deployment, 'spec.template.spec') as Doc;
const podLabels = get(deployment, 'spec.template.metadata.labels') as Record<string, string>;
const container = (podSpec.containers as Doc[])[0]!;
const containerPort = (nameOrNumber: string | number): number =>
  typeof nameOrNumber === 'number'
    ? nameOrNumber
    : ((container.ports as Doc[]).find((p) => p.name === nameOrNumber)!.containerPort as number);
const configMap = one('ConfigMap');
const secret = one('Secret');
const gatewayYaml = (configMap.data as Doc)['gateway.yaml'];
const settings = (parse(gatewayYaml as string) as Doc)._tollgate as Doc;
const selects = (selector: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => podLabels[k] === v);

describe('examples/kubernetes manifests', () => {
  test('every file parses, every document has apiVersion, kind and metadata.name, kustomization lists them all but the Secret', async () => {
    assert.ok(manifests.length >= 6);
    for (const m of manifests) {
      assert.ok(
        typeof m.apiVersion === 'string' && typeof m.kind === 'string' && typeof get(m, 'metadata.name') === 'string',
        `${m.file}: ${m.kind}`,
      );
    }
    // Every manifest but the Secret: it is created outside git, and `kubectl apply -k` would put
    // the placeholders back over the real values at every apply.
    const kustomization = parse(await readFile(join(DIR, 'kustomization.yaml'), 'utf8')) as Doc;
    assert.deepEqual(
      [...(kustomization.resources as string[])].sort(),
      files.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.yaml'),
    );
  });

  test('Deployment: several replicas, CPU and memory requests and limits, a pinned image', () => {
    assert.ok((get(deployment, 'spec.replicas') as number) >= 2);
    for (const k of ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'])
      assert.ok(get(container, `resources.${k}`), k);
    assert.match(container.image as string, /:[\w.-]+$/);
    assert.doesNotMatch(container.image as string, /:latest$/);
    assert.ok(selects(get(deployment, 'spec.selector.matchLabels')));
    assert.equal(get(deployment, 'spec.strategy.rollingUpdate.maxUnavailable'), 0);
  });

  test('readiness and startup probes GET /status/ready, liveness GET /status, and the scrape /metrics, on the status port the args open; the admin API stays on loopback', () => {
    const args = container.args as string[];
    const i = args.indexOf('--status-listen');
    assert.ok(i >= 0, '--status-listen in args');
    const [host, port] = args[i + 1]!.split(':');
    assert.equal(host, '0.0.0.0');
    // As Kong's Helm chart: the probes never need the admin API exposed.
    assert.ok(!args.includes('--admin-listen'), 'the admin API keeps its loopback default');
    assert.equal(settings.admin_listen, undefined);
    const paths = { readinessProbe: '/status/ready', startupProbe: '/status/ready', livenessProbe: '/status' };
    for (const [probe, path] of Object.entries(paths)) {
      assert.equal(get(container, `${probe}.httpGet.path`), path, probe);
      assert.equal(containerPort(get(container, `${probe}.httpGet.port`)), Number(port), probe);
    }
    const annotations = get(deployment, 'spec.template.metadata.annotations') as Record<string, string>;
    assert.equal(annotations['prometheus.io/port'], port);
    assert.equal(annotations['prometheus.io/path'], '/metrics');
    assert.deepEqual(args.slice(0, 3), ['start', '--config', '/etc/tollgate/gateway.yaml']);
  });

  test('terminationGracePeriodSeconds covers the preStop sleep plus the gateway drain (shutdown_grace_period)', () => {
    const cmd = get(container, 'lifecycle.preStop.exec.command') as string[];
    assert.equal(cmd[0], 'sleep');
    const sleep = Number(cmd[1]);
    assert.ok(sleep >= 3, 'preStop leaves the load balancers a few seconds');
    const drain = ((settings.shutdown_grace_period as number | undefined) ?? 10_000) / 1000;
    const period = podSpec.terminationGracePeriodSeconds as number;
    assert.ok(period >= sleep + drain + 2, `terminationGracePeriodSeconds ${period} >= ${sleep} + ${drain} + 2`);
  });

  test('ConfigMap mounted as a directory (no subPath, so updates arrive) where --config points', () => {
    const mount = (container.volumeMounts as Doc[]).find((m) => m.mountPath === '/etc/tollgate')!;
    assert.ok(mount, 'a mount at /etc/tollgate');
    assert.equal(mount.subPath, undefined);
    const volume = (podSpec.volumes as Doc[]).find((v) => v.name === mount.name)!;
    assert.equal(get(volume, 'configMap.name'), get(configMap, 'metadata.name'));
    assert.ok(typeof gatewayYaml === 'string' && gatewayYaml.includes('_format_version'));
  });

  test('non-root as the image USER, read-only root filesystem with a writable /tmp for the tsx cache', async () => {
    const user = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'))
      .filter((i) => i.keyword === 'USER')
      .at(-1)!.args;
    assert.equal(get(podSpec, 'securityContext.runAsNonRoot'), true);
    assert.equal(String(get(podSpec, 'securityContext.runAsUser')), user.split(':')[0]);
    assert.equal(get(container, 'securityContext.readOnlyRootFilesystem'), true);
    assert.equal(get(container, 'securityContext.allowPrivilegeEscalation'), false);
    const tmp = (container.volumeMounts as Doc[]).find((m) => m.mountPath === '/tmp')!;
    assert.ok(
      get(
        (podSpec.volumes as Doc[]).find((v) => v.name === tmp.name),
        'emptyDir',
      ),
    );
  });

  test('every ${...} of gateway.yaml is set by the container env, secrets through secretKeyRef into the Secret', () => {
    const env = container.env as Doc[];
    const secretData = { ...(secret.stringData as Doc), ...(secret.data as Doc) };
    for (const name of envReferences(gatewayYaml as string)) {
      const e = env.find((x) => x.name === name);
      assert.ok(e, `${name} is in the container env`);
      const ref = get(e, 'valueFrom.secretKeyRef') as Doc | undefined;
      if (ref) {
        assert.equal(ref.name, get(secret, 'metadata.name'), name);
        assert.ok(secretData[ref.key as string] !== undefined, `the Secret has ${String(ref.key)}`);
      } else assert.equal(typeof e.value, 'string', name);
    }
    for (const secretName of ['SESSION_SECRET', 'AUTH0_CLIENT_SECRET', 'REDIS_PASSWORD']) {
      assert.ok(
        get(
          env.find((x) => x.name === secretName),
          'valueFrom.secretKeyRef',
        ),
        `${secretName} comes from the Secret, not a literal`,
      );
    }
  });

  test("the ConfigMap's gateway.yaml validates with the real loader, env filled from the Deployment and the Secret", async () => {
    const secretData = secret.stringData as Record<string, string>;
    const env: Record<string, string> = {};
    for (const e of container.env as Doc[]) {
      const key = get(e, 'valueFrom.secretKeyRef.key') as string | undefined;
      env[e.name as string] = key !== undefined ? secretData[key]! : (e.value as string);
    }
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-k8s-'));
    try {
      await writeFile(join(dir, 'gateway.yaml'), gatewayYaml as string);
      const cfg = await loadConfigFile(join(dir, 'gateway.yaml'), { env });
      assert.equal(cfg.services.length, 2);
      // Without a warning too: each one is a misconfiguration `start` logs at every load (an
      // unreachable logout, redirect URLs taken from the Host header), and config-repo.md's CI
      // validates with --strict.
      const strict = await gateway(['validate', '--strict', 'gateway.yaml'], { cwd: dir, env: cleanEnv(env) });
      assert.equal(strict.code, 0, strict.out + strict.err);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('Service selects the pods and exposes the proxy port only', () => {
    const svc = one('Service');
    assert.ok(selects(get(svc, 'spec.selector')));
    const ports = get(svc, 'spec.ports') as Doc[];
    assert.deepEqual(
      ports.map((p) => containerPort(p.targetPort as string | number)),
      [8000],
    );
  });

  test('HPA scales the Deployment on CPU from a floor of at least 2, and the PDB lets one pod go at a time', () => {
    const hpa = one('HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.equal(get(hpa, 'spec.scaleTargetRef.kind'), 'Deployment');
    assert.equal(get(hpa, 'spec.scaleTargetRef.name'), get(deployment, 'metadata.name'));
    const min = get(hpa, 'spec.minReplicas') as number;
    assert.ok(min >= 2 && (get(hpa, 'spec.maxReplicas') as number) > min);
    assert.equal(get(deployment, 'spec.replicas'), min);
    assert.equal(get((get(hpa, 'spec.metrics') as Doc[])[0], 'resource.name'), 'cpu');
    // Autoscaling is only safe for limits counted in Redis.
    assert.doesNotMatch(gatewayYaml as string, /policy:\s*local/);

    const pdb = one('PodDisruptionBudget');
    assert.equal(pdb.apiVersion, 'policy/v1');
    assert.ok(selects(get(pdb, 'spec.selector.matchLabels')));
    const maxUnavailable = get(pdb, 'spec.maxUnavailable') as number | undefined;
    const minAvailable = get(pdb, 'spec.minAvailable') as number | undefined;
    assert.ok(
      maxUnavailable === 1 || (minAvailable !== undefined && minAvailable < min),
      'a drain can proceed and leaves pods serving',
    );
  });

  test('NetworkPolicy opens the proxy port and keeps the status port for monitoring', () => {
    const np = one('NetworkPolicy');
    assert.ok(selects(get(np, 'spec.podSelector.matchLabels')));
    const rules = get(np, 'spec.ingress') as Doc[];
    const status = rules.filter((r) => (r.ports as Doc[]).some((p) => p.port === 8100));
    assert.ok(
      status.length > 0 && status.every((r) => Array.isArray(r.from) && r.from.length > 0),
      'status port restricted to listed sources',
    );
  });
});
