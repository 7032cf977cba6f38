// A Dockerfile whose image would not start fails the image check (image-check.ts).
import { describe, test } from 'node:test';
import { brokenCopy, failsCheck } from './broken-dockerfile.ts';

describe('a broken start fails the image check', { concurrency: 2 }, () => {
  test('entry command pointing at a missing script', async () => {
    await failsCheck(await brokenCopy('"/app/bin/gateway"', '"/app/bin/gatewy"'), /exited \(exit 1\) before listening/);
  });

  test('default command pointing at a config file the image does not hold', async () => {
    await failsCheck(
      await brokenCopy('"--config", "/etc/tollgate/gateway.yaml"', '"--config", "/etc/tollgate/missing.yaml"'),
      /before listening[\s\S]*no such file/,
    );
  });

  test('shell-form CMD (a shell would swallow SIGTERM)', async () => {
    await failsCheck(
      await brokenCopy(/^CMD .*$/m, 'CMD gateway start --config /etc/tollgate/gateway.yaml'),
      /exec form/,
    );
  });
});
