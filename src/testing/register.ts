// `node --import <this file>`: TypeScript through tsx, and `tollgate`, `tollgate/testing` resolved
// to this gateway, for a custom plugin's own tests in a folder without node_modules
// (`gateway plugin test` passes it to `node --test`).
import { register } from 'tsx/esm/api';
import { ensureHook } from '../config/custom-plugins.ts';

register();
ensureHook();
