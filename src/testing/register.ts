// `node --import <this file>`: TypeScript through tsx, and `tollgate`, `tollgate/testing` resolved
// to this gateway, for a custom plugin's own tests in a folder without node_modules
// (`gateway plugin test` passes it to `node --test`). The plugin folders it names in the
// environment load as ES modules, as the gateway loads plugins: without a package.json saying
// "type": "module", tsx would read a test file there as CommonJS and its `import ... from
// 'tollgate/testing'` would become a require that the resolve hook never sees.
import { register } from 'tsx/esm/api';
import { ensureHook } from '../config/custom-plugins.ts';
import { TEST_ROOTS_ENV } from './register-env.ts';

function roots(): string[] {
  try {
    const list: unknown = JSON.parse(process.env[TEST_ROOTS_ENV] ?? '[]');
    return Array.isArray(list) ? list.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

register();
ensureHook(roots());
