// The types a TollgateInstance shares with whoever coordinates it (this process, or a cluster
// primary): reload options and results, readiness, connection counts.
import type { KongListener } from './config/listen.ts';
import type { GatewayConfig } from './config/model.ts';
import type { RestartSetting } from './config/restart-settings.ts';
import type { ConfigIssue } from './errors.ts';
import type { TollgateInstance } from './instance.ts';
import type { Runtime } from './pipeline/runtime.ts';

/**
 * Reloads, connection counts, metrics and status for the whole gateway. The local coordinator
 * answers for this process; the cluster primary's (src/cli/primary-coordinator.ts) for all its workers.
 */
export interface Coordinator {
  /** Loads the config and swaps it in (everywhere, or nowhere). Called one reload at a time. */
  reload(inst: TollgateInstance, opts: ReloadOptions): Promise<ReloadResult>;
  connections(inst: TollgateInstance): Promise<ConnectionStats>;
  /** The /metrics text. */
  metricsText(inst: TollgateInstance): Promise<string>;
  /** Fields added to /status: upstream health and dependencies as the processes serving traffic see them. */
  status(inst: TollgateInstance): Promise<Record<string, unknown>>;
  /**
   * Marks an upstream's target healthy or unhealthy in every process that serves traffic (Kong's
   * `PUT /upstreams/{u}/targets/{t}/healthy`): null when done, else why not.
   */
  setTargetHealth(inst: TollgateInstance, upstream: string, target: string, healthy: boolean): Promise<string | null>;
  /** Whether every process that serves traffic has its proxy open on the current config. */
  readiness(inst: TollgateInstance): Readiness;
  /** Whether the proxy accepts connections anywhere (what `/status` calls "up"). */
  serving(inst: TollgateInstance): boolean;
  /** The proxy listeners open (`GET /`'s `proxy_listeners`): this process's, or its workers'. */
  proxyListeners(inst: TollgateInstance): KongListener[];
}

/** The answer of `GET /ready`: ready, or why not (Kong's `/status/ready` message). */
export interface Readiness {
  ready: boolean;
  message: string;
}

/** What caused a reload. */
/** `config`: Kong's `POST /config`, a config posted to the admin API. */
export type ReloadTrigger = 'watch' | 'signal' | 'admin' | 'api' | 'config';

export interface ReloadOptions {
  trigger?: ReloadTrigger;
  /** True once the reload ran past its deadline, or shutdown began: it must not swap anything in. */
  abandoned?: () => boolean;
  /** Return a failure without recording or logging it (the watcher looks again before reporting). */
  deferFailure?: boolean;
  /** The config to load instead of reading the file (Kong's `POST /config`); not written anywhere. */
  text?: string;
  /**
   * Load the serving config's text again, as it is when the reload runs, not the file: a cluster
   * worker that came up on an older text is brought to the one serving (which may be a posted
   * config the file does not have).
   */
  serving?: boolean;
  /** Kong's `check_hash=1`: a config whose hash is the serving one's is not applied (`unchanged`). */
  checkHash?: boolean;
}

export interface ReloadResult {
  ok: boolean;
  at: Date;
  /** Hash of the config now serving (the new one on success). */
  hash: string | null;
  errors: ConfigIssue[];
  trigger?: ReloadTrigger;
  /** Set when the reload failed because nothing could apply it (shutting down, no worker serving). */
  unavailable?: boolean;
  /** Restart-only settings the loaded file changes: they keep their values from the start. */
  restartRequired?: RestartSetting[];
  /** With `checkHash`: the config loaded is the one serving, and nothing was swapped. */
  unchanged?: boolean;
}

/** A config loaded and compiled, not yet serving. */
export interface Prepared {
  config: GatewayConfig;
  runtime: Runtime;
  text: string;
}

/** Connection counts of the proxy listeners, and the requests they finished since start. */
export interface ConnectionStats {
  accepted: number;
  active: number;
  in_flight: number;
  idle: number;
  requests: number;
}
