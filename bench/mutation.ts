/**
 * `npm run mutation`: runs StrykerJS once per group of stryker.config.mjs (or the groups named in
 * MUTATION_GROUPS, comma-separated) and prints each mutated file's score at the end.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

// The config is plain JavaScript (Stryker loads it): read its groups without type declarations.
const configUrl = new URL('../stryker.config.mjs', import.meta.url).href;
const { groups } = (await import(configUrl)) as { groups: Record<string, unknown> };

interface MutantResult {
  status: string;
}
interface Report {
  files: Record<string, { mutants: MutantResult[] }>;
}

const wanted = (process.env.MUTATION_GROUPS ?? Object.keys(groups).join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const rows: string[] = [];
let failed = false;
for (const name of wanted) {
  console.log(`\n=== mutation group ${name}`);
  const run = spawnSync('npx', ['stryker', 'run'], { stdio: 'inherit', env: { ...process.env, MUTATION_GROUP: name } });
  const file = `reports/mutation/${name}.json`;
  if (run.status !== 0 || !existsSync(file)) {
    failed = true;
    rows.push(`| ${name} | (stryker failed: exit ${run.status}) | | | |`);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  for (const [path, { mutants }] of Object.entries(report.files)) {
    const count = (s: string) => mutants.filter((m) => m.status === s).length;
    const killed = count('Killed') + count('Timeout');
    const survived = count('Survived') + count('NoCoverage');
    const score = killed + survived === 0 ? 100 : (100 * killed) / (killed + survived);
    rows.push(`| ${name} | ${path} | ${killed} | ${survived} | ${score.toFixed(1)}% |`);
  }
}
console.log('\n| group | file | killed | survived or not covered | score |\n| --- | --- | --: | --: | --: |');
for (const r of rows) console.log(r);
process.exit(failed ? 1 : 0);
