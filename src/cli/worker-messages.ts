// The messages between the cluster primary (src/cli/workers.ts, primary-coordinator.ts) and its
// workers (worker-process.ts): the reload's prepare/commit/abort protocol, the questions /status and
// /metrics ask, and the workers' answers.
import type { ConfigIssue } from '../errors.ts';
import type { TollgateInstance } from '../instance.ts';
import type { ConnectionStats, ReloadTrigger } from '../instance-types.ts';
import type { HealthReport } from '../upstream/health-report.ts';

export type ToWorker =
  | { t: 'tollgate:init'; text: string }
  | { t: 'tollgate:prepare'; id: number; text: string }
  | { t: 'tollgate:commit'; id: number; trigger: ReloadTrigger | undefined }
  | { t: 'tollgate:abort'; id: number }
  | { t: 'tollgate:stats'; id: number }
  | { t: 'tollgate:health'; id: number }
  | { t: 'tollgate:target-health'; id: number; upstream: string; target: string; healthy: boolean }
  | { t: 'tollgate:metrics'; id: number }
  | { t: 'tollgate:shutdown' };

export type FromWorker =
  | { t: 'tollgate:hello' }
  | { t: 'tollgate:ready'; listeners: TollgateInstance['proxyListeners']; hash: string }
  | { t: 'tollgate:failed'; errors: ConfigIssue[] }
  | {
      t: 'tollgate:reply';
      id: number;
      ok: boolean;
      hash?: string;
      errors?: ConfigIssue[];
      stats?: ConnectionStats;
      health?: HealthReport;
      metrics?: object[];
      /** Why a target's health could not be set. */
      refused?: string | null;
    };
