// Calendar windows of the rate-limiting periods (UTC, like Kong's kong.tools.timestamp).

export type Period = 'second' | 'minute' | 'hour' | 'day' | 'month' | 'year';

/** Smallest first: Kong's order for validation and header choice. */
export const PERIODS: readonly Period[] = ['second', 'minute', 'hour', 'day', 'month', 'year'];

/** Kong's nominal window lengths in seconds (month is 30 days, year 365). */
export const EXPIRATION: Readonly<Record<Period, number>> = {
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86400,
  month: 2592000,
  year: 31536000,
};

/** Start (ms since epoch) of the window of `period` that contains `now`. */
export function windowStart(period: Period, now: number): number {
  switch (period) {
    case 'second':
      return now - (now % 1000);
    case 'minute':
      return now - (now % 60_000);
    case 'hour':
      return now - (now % 3_600_000);
    case 'day':
      return now - (now % 86_400_000);
    case 'month': {
      const d = new Date(now);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    }
    case 'year':
      return Date.UTC(new Date(now).getUTCFullYear(), 0, 1);
  }
}

/** End (exclusive, ms) of the window of `period` that starts at `start`. */
export function windowEnd(period: Period, start: number): number {
  switch (period) {
    case 'month': {
      const d = new Date(start);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
    case 'year':
      return Date.UTC(new Date(start).getUTCFullYear() + 1, 0, 1);
    default:
      return start + EXPIRATION[period] * 1000;
  }
}
