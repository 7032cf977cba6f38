// A Dockerfile whose install step is wrong fails the image check (image-check.ts).
import { describe, test } from 'node:test';
import { brokenCopy, failsCheck } from './broken-dockerfile.ts';

describe('a broken install step fails the image check', { concurrency: 2 }, () => {
  test('install step without the lockfile (npm ci refuses)', async () => {
    await failsCheck(
      await brokenCopy('COPY package.json package-lock.json ./', 'COPY package.json ./'),
      /RUN npm ci .*failed/,
    );
  });

  test('install step with devDependencies', async () => {
    await failsCheck(await brokenCopy('npm ci --omit=dev', 'npm ci'), /devDependencies in the image: .*oidc-provider/);
  });

  test('a step the checker cannot replay', async () => {
    await failsCheck(await brokenCopy('RUN npm ci', 'RUN apt-get update && npm ci'), /only a plain `npm ci/);
  });
});
