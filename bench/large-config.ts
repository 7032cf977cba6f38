/**
 * A large gateway.yaml for start-up and validation timings: `n` routes spread over services of
 * `perService` routes each (100 by default; 1 is the shape of a file `deck` dumps from a gateway
 * of one route per service), mostly prefix paths, every tenth route a regex path, some with
 * hosts, methods and headers, a plugin on every fiftieth route and a handful of consumers.
 *
 *   node --import tsx bench/large-config.ts 10000 [perService] > /tmp/10k.yaml
 */
export function largeConfig(n: number, upstream = 'http://127.0.0.1:9', perService = 100): string {
  const out: string[] = ['_format_version: "3.0"', 'services:'];
  for (let s = 0; s * perService < n; s++) {
    out.push(`  - name: svc${s}`, `    url: ${upstream}/s${s}`, '    routes:');
    for (let r = s * perService; r < Math.min(n, (s + 1) * perService); r++) {
      out.push(`      - name: r${r}`);
      if (r % 10 === 0) out.push(`        paths: ['~/api/v${r % 7}/items${r}/(?<id>[0-9]+)$']`);
      else out.push(`        paths: [/api/v${r % 7}/r${r}, /svc${r}]`);
      if (r % 3 === 0) out.push(`        hosts: [h${r % 13}.example.com, '*.w${r % 5}.example.org']`);
      if (r % 4 === 0) out.push('        methods: [GET, POST]');
      if (r % 25 === 0) out.push('        headers:', `          x-tenant: [t${r}]`);
      if (r % 50 === 0)
        out.push(
          '        plugins:',
          '          - name: rate-limiting',
          '            config: { minute: 100, policy: local }',
        );
    }
  }
  out.push('consumers:');
  for (let c = 0; c < 20; c++)
    out.push(`  - username: user${c}`, '    keyauth_credentials:', `      - key: key-${c}-0123456789`);
  out.push('plugins:', '  - name: key-auth', '    config: { anonymous: user0 }');
  return `${out.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(largeConfig(Number(process.argv[2] ?? 10000), undefined, Number(process.argv[3] ?? 100)));
}
