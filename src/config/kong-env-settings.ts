// kong.conf properties that are `_tollgate` settings here, as Kong deployments set them in the
// environment. Kong's Helm chart sets KONG_PORT_MAPS ("80:8000, 443:8443") whenever its Service's
// ports are not the container's, and a Kong behind a load balancer is told to believe its
// X-Forwarded-For with KONG_TRUSTED_IPS. Kong reads a `KONG_<property>` variable over kong.conf;
// here it is read over the file's setting, at every load (a reload keeps it, as the environment
// does not change).
import { isIP } from 'node:net';
import { parsePortMap, portMapError } from './port-maps.ts';

/** The variables, and the setting each one sets. */
export const KONG_ENV_SETTINGS = {
  KONG_PORT_MAPS: 'port_maps',
  KONG_TRUSTED_IPS: 'trusted_ips',
} as const;

type Variable = keyof typeof KONG_ENV_SETTINGS;
type Setting = (typeof KONG_ENV_SETTINGS)[Variable];

/** kong.conf's form of a list: comma-separated, blanks around entries ignored, an empty value an empty list. */
export function kongConfList(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** An IP address or a CIDR block, as `trusted_ips` takes them. */
export function isIpOrCidr(text: string): boolean {
  const [addr, bits, extra] = text.split('/');
  const v = isIP(addr ?? '');
  if (v === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128));
}

/**
 * kong.conf's `trusted_ips` entry that trusts every UNIX-domain socket peer (Kong's conf loader
 * accepts it beside addresses). The gateway listens on TCP only, so no peer is one: the entry is
 * accepted and trusts nothing.
 */
const TRUST_UNIX = 'unix:';

/** Why one entry of a setting is refused, or null (the message the file's entry gets). */
function entryProblem(setting: Setting, entry: string): string | null {
  if (setting === 'port_maps') return parsePortMap(entry) === null ? portMapError(entry) : null;
  return isIpOrCidr(entry) || entry === TRUST_UNIX ? null : `invalid IP address or CIDR: ${entry}`;
}

/** Why the variable's value cannot be used (a usage error naming the variable), or null. */
export function kongEnvSettingError(name: Variable, value: string): string | null {
  for (const entry of kongConfList(value)) {
    const problem = entryProblem(KONG_ENV_SETTINGS[name], entry);
    if (problem !== null) return `${name}: ${problem}`;
  }
  return null;
}

/**
 * The settings the environment sets over the file's: the variables that are set and valid (start
 * and validate refuse an invalid one before loading, with `kongEnvSettingError`).
 */
export function kongEnvSettings(env: Record<string, string | undefined>): Partial<Record<Setting, string[]>> {
  const out: Partial<Record<Setting, string[]>> = {};
  for (const name of Object.keys(KONG_ENV_SETTINGS) as Variable[]) {
    const value = env[name];
    if (value === undefined || kongEnvSettingError(name, value) !== null) continue;
    const list = kongConfList(value);
    out[KONG_ENV_SETTINGS[name]] = name === 'KONG_TRUSTED_IPS' ? list.filter((e) => e !== TRUST_UNIX) : list;
  }
  return out;
}
