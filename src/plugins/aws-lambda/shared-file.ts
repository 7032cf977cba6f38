/**
 * The shared credentials file of AWS's CLI and SDKs, as Kong's lua-resty-aws reads it (its
 * SharedFileCredentials, third in its default chain): the section of profile AWS_PROFILE
 * (`default`) of AWS_SHARED_CREDENTIALS_FILE (`~/.aws/credentials`); when that file does not
 * exist, the section of AWS_CONFIG_FILE (`~/.aws/config`: `[default]` or `[profile NAME]`).
 * The keys are aws_access_key_id, aws_secret_access_key and aws_session_token.
 *
 * Read at the first fetch (never at load: loading a config does no I/O), at most 256 KiB, parsed in
 * one pass over its lines. Errors name the file and the profile, never a value of the file.
 */
import type { FileHandle } from 'node:fs/promises';
import { type AwsCredentials, CredentialError, openRegular } from './aws-endpoints.ts';

/** No shared file at all: the usual case, left out of the chain's error when another source failed. */
export class NoSharedFile extends CredentialError {}

/** The most of a shared file read: a file of many profiles is a few KiB. */
const MAX_FILE_BYTES = 256 * 1024;

/** Where the shared files are, per the environment; null paths when `~` cannot be expanded. */
export interface SharedFiles {
  credentials: string | null;
  config: string | null;
  profile: string;
}

/** lua-resty-aws's expanduser: a leading `~` is HOME; without HOME the path is unusable. */
function expand(path: string, env: NodeJS.ProcessEnv): string | null {
  if (!path.startsWith('~')) return path;
  return env.HOME ? env.HOME + path.slice(1) : null;
}

export function sharedFiles(env: NodeJS.ProcessEnv): SharedFiles {
  return {
    credentials: expand(env.AWS_SHARED_CREDENTIALS_FILE || '~/.aws/credentials', env),
    config: expand(env.AWS_CONFIG_FILE || '~/.aws/config', env),
    profile: env.AWS_PROFILE || 'default',
  };
}

/** The text of a file, or null when it does not exist. */
async function readBounded(path: string): Promise<string | null> {
  let fh: FileHandle;
  try {
    fh = await openRegular(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new CredentialError(`shared credentials: ${path} unreadable (${code ?? 'error'})`);
  }
  try {
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
    let size = 0;
    // read() may return less than asked: read until the end or past the bound.
    while (size < buf.length) {
      const { bytesRead } = await fh.read(buf, size, buf.length - size, size);
      if (bytesRead === 0) break;
      size += bytesRead;
    }
    if (size > MAX_FILE_BYTES) throw new CredentialError(`shared credentials: ${path} is over 256 KiB`);
    return buf.subarray(0, size).toString('utf8');
  } catch (err) {
    if (err instanceof CredentialError) throw err;
    throw new CredentialError(`shared credentials: ${path} unreadable (${(err as NodeJS.ErrnoException).code})`);
  } finally {
    await fh.close();
  }
}

/** The keys of one section of an INI text (`[section]`, `key = value`, `#` and `;` comments). */
export function iniSection(text: string, section: string): Map<string, string> {
  const out = new Map<string, string>();
  let inside = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      if (inside) break;
      inside = line.endsWith(']') && line.slice(1, -1).trim() === section;
      continue;
    }
    if (!inside) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return out;
}

/** The profile's credentials of the shared files; rejects when there are none. */
export async function sharedFileCredentials(files: SharedFiles): Promise<AwsCredentials> {
  const where = `shared credentials (profile ${files.profile.slice(0, 64)})`;
  let keys: Map<string, string> | null = null;
  const credentials = files.credentials === null ? null : await readBounded(files.credentials);
  if (credentials !== null) keys = iniSection(credentials, files.profile);
  else if (files.config !== null) {
    const config = await readBounded(files.config);
    if (config !== null) {
      keys = iniSection(config, files.profile === 'default' ? 'default' : `profile ${files.profile}`);
    }
  }
  if (keys === null) throw new NoSharedFile(`${where}: no credentials or config file`);
  const id = keys.get('aws_access_key_id');
  const secret = keys.get('aws_secret_access_key');
  if (!id || !secret) throw new CredentialError(`${where}: no aws_access_key_id and aws_secret_access_key`);
  const token = keys.get('aws_session_token');
  return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
}
