// The signals Kong's nginx master takes, as `gateway start` answers them (docs/operations.md#signals).

import { createLogger } from '../log.ts';

/**
 * The signals that drain and stop the gateway. SIGQUIT is nginx's graceful shutdown, the signal
 * `kong quit` sends and Kong's container image stops with (`STOPSIGNAL SIGQUIT`); node's default
 * action for it ended the process at once, dropping the requests in flight.
 */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

/**
 * SIGUSR1 and SIGUSR2 have a meaning to nginx that has no counterpart here: USR1 reopens the log
 * files (what Kong's logrotate set-ups send; the gateway logs to stdout), USR2 starts a new binary
 * beside the old one (restart instead). Left to node, USR1 opened its inspector on 127.0.0.1:9229,
 * which lets any local process run code in the gateway, and USR2 ended the process without a drain.
 * Both are logged (as nginx logs each signal it takes, at notice) and change nothing.
 */
export function catchKongSignals(level: string | undefined): void {
  const handler = (signal: NodeJS.Signals): void => {
    createLogger({ level }).info(
      { signal, pid: process.pid },
      signal === 'SIGUSR1'
        ? 'SIGUSR1 ignored: nothing to reopen, the log goes to stdout'
        : 'SIGUSR2 ignored: no binary upgrade, restart the gateway instead',
    );
  };
  process.on('SIGUSR1', handler);
  process.on('SIGUSR2', handler);
}
