// A Dockerfile whose image starts but runs the wrong way fails the image check (image-check.ts).
import { describe, test } from 'node:test';
import { brokenCopy, failsCheck } from './broken-dockerfile.ts';

describe('a broken running image fails the image check', { concurrency: 2 }, () => {
  test('HEALTHCHECK asking for a path the admin listener does not serve', async () => {
    await failsCheck(await brokenCopy("8001/status'", "8001/statuz'"), /HEALTHCHECK command exited 1/);
  });

  test('no USER (root)', async () => {
    await failsCheck(await brokenCopy(/^USER .*$/m, ''), /runs as root/);
  });

  test('no build step (bin/gateway falls back to the sources through tsx)', async () => {
    await failsCheck(
      await brokenCopy(/^RUN \["node", "bin\/compiled\.mjs"\]$/m, ''),
      /runs the tree 'src', not the compiled 'dist'/,
    );
  });
});
