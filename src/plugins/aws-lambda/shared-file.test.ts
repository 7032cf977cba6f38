// The shared credentials file as aws-lambda's credential chain reads it (sharedFiles() from the
// environment, then sharedFileCredentials() at the first fetch), against real files: which file
// and section, what an INI line means, the 256 KiB bound, and what each failure says.
// credentials.test.ts runs the same source through a gateway.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../../test/support/temp.ts';
import { CredentialError } from './aws-endpoints.ts';
import { NoSharedFile, sharedFileCredentials, sharedFiles } from './shared-file.ts';

/** The credentials the chain gets from the environment `env`, or the error it gets. */
async function fromEnv(env: NodeJS.ProcessEnv): Promise<unknown> {
  try {
    return await sharedFileCredentials(sharedFiles(env));
  } catch (err) {
    assert.ok(err instanceof CredentialError, String(err));
    return { error: err.message, absent: err instanceof NoSharedFile };
  }
}

/** A file in a fresh dir. */
function file(name: string, text: string): string {
  const path = join(tempDir('tollgate-aws'), name);
  writeFileSync(path, text);
  return path;
}

test('~/.aws/credentials and ~/.aws/config under HOME by default; the variables name others; empty ones are unset', async () => {
  const home = tempDir('tollgate-home');
  mkdirSync(join(home, '.aws'));
  writeFileSync(
    join(home, '.aws', 'credentials'),
    '[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = s1\n',
  );
  assert.deepEqual(await fromEnv({ HOME: home }), { accessKeyId: 'AKIDHOME', secretAccessKey: 's1' });
  assert.deepEqual(await fromEnv({ HOME: home, AWS_SHARED_CREDENTIALS_FILE: '', AWS_PROFILE: '' }), {
    accessKeyId: 'AKIDHOME',
    secretAccessKey: 's1',
  });
  // A `~` in a variable is HOME as well; without HOME it names no file at all.
  const other = file('creds', '[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = s2\n');
  assert.deepEqual(await fromEnv({ HOME: home, AWS_SHARED_CREDENTIALS_FILE: other }), {
    accessKeyId: 'AKIDOTHER',
    secretAccessKey: 's2',
  });
  writeFileSync(join(home, 'mine'), '[default]\naws_access_key_id = AKIDTILDE\naws_secret_access_key = s3\n');
  assert.deepEqual(await fromEnv({ HOME: home, AWS_SHARED_CREDENTIALS_FILE: '~/mine' }), {
    accessKeyId: 'AKIDTILDE',
    secretAccessKey: 's3',
  });
  assert.deepEqual(sharedFiles({}), { credentials: null, config: null, profile: 'default' });
  assert.deepEqual(await fromEnv({}), {
    error: 'shared credentials (profile default): no credentials or config file',
    absent: true,
  });
  // Without HOME an absolute path still names its file.
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: other }), {
    accessKeyId: 'AKIDOTHER',
    secretAccessKey: 's2',
  });
  const config = file('config', '[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s4\n');
  assert.deepEqual(await fromEnv({ AWS_CONFIG_FILE: config }), { accessKeyId: 'AKIDCONFIG', secretAccessKey: 's4' });
});

test("INI lines as the CLI writes them: the profile's own section only, comments, spaces, lines without a key", async () => {
  const text = [
    '# a comment [edge]',
    '[default]',
    'aws_access_key_id = AKIDDEFAULT',
    '[  edge  ]',
    '; aws_access_key_id = AKIDCOMMENTED',
    '  aws_access_key_id   =   AKIDEDGE  ',
    'no equals sign here',
    '= value without a key',
    'aws_secret_access_key=edge=secret',
    '',
    '[after]',
    'aws_session_token = not-of-edge',
  ].join('\n');
  const path = file('credentials', text);
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: path, AWS_PROFILE: 'edge' }), {
    accessKeyId: 'AKIDEDGE',
    secretAccessKey: 'edge=secret',
  });
  // The default section ends where the next one starts: its secret is not edge's.
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: path }), {
    error: 'shared credentials (profile default): no aws_access_key_id and aws_secret_access_key',
    absent: false,
  });
  // A header without its closing bracket opens no section.
  const open = file('credentials', '[edge)\naws_access_key_id = A\naws_secret_access_key = B\n');
  assert.equal(
    ((await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: open, AWS_PROFILE: 'edge' })) as { error: string }).error,
    'shared credentials (profile edge): no aws_access_key_id and aws_secret_access_key',
  );
});

test('a session token is sent only when the section has a non-empty one', async () => {
  const path = file(
    'credentials',
    '[a]\naws_access_key_id = A\naws_secret_access_key = B\naws_session_token = T\n' +
      '[b]\naws_access_key_id = A\naws_secret_access_key = B\naws_session_token =\n',
  );
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: path, AWS_PROFILE: 'a' }), {
    accessKeyId: 'A',
    secretAccessKey: 'B',
    sessionToken: 'T',
  });
  const b = await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: path, AWS_PROFILE: 'b' });
  assert.deepEqual(b, { accessKeyId: 'A', secretAccessKey: 'B' });
  assert.equal(Object.hasOwn(b as object, 'sessionToken'), false);
});

test('a key without a secret, or an empty one, is refused, naming neither', async () => {
  for (const text of [
    '[default]\naws_access_key_id = A\n',
    '[default]\naws_secret_access_key = B\n',
    '[default]\naws_access_key_id =\naws_secret_access_key = B\n',
    '[default]\naws_access_key_id = A\naws_secret_access_key =\n',
  ]) {
    assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: file('credentials', text) }), {
      error: 'shared credentials (profile default): no aws_access_key_id and aws_secret_access_key',
      absent: false,
    });
  }
});

test('the config file only without a credentials file: `[default]` or `[profile NAME]`, as lua-resty-aws reads it', async () => {
  const config = file(
    'config',
    '[ops]\naws_access_key_id = WRONG\naws_secret_access_key = W\n' +
      '[profile ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = s\n' +
      '[profile default]\naws_access_key_id = WRONG\naws_secret_access_key = W\n' +
      '[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = d\n',
  );
  const missing = join(tempDir('tollgate-aws'), 'no-such-file');
  assert.deepEqual(
    await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: missing, AWS_CONFIG_FILE: config, AWS_PROFILE: 'ops' }),
    {
      accessKeyId: 'AKIDOPS',
      secretAccessKey: 's',
    },
  );
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: missing, AWS_CONFIG_FILE: config }), {
    accessKeyId: 'AKIDDEF',
    secretAccessKey: 'd',
  });
  // A path through a regular file (ENOTDIR) is a file that does not exist either.
  assert.deepEqual(
    await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: join(config, 'credentials'), AWS_CONFIG_FILE: config }),
    { accessKeyId: 'AKIDDEF', secretAccessKey: 'd' },
  );
  // A credentials file that exists is the only one read, even without the profile.
  const creds = file('credentials', '[other]\naws_access_key_id = A\naws_secret_access_key = B\n');
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: config }), {
    error: 'shared credentials (profile default): no aws_access_key_id and aws_secret_access_key',
    absent: false,
  });
  // Neither file: absent, which the chain leaves out of its error when another source failed.
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: missing, AWS_CONFIG_FILE: `${missing}2` }), {
    error: 'shared credentials (profile default): no credentials or config file',
    absent: true,
  });
  // A config file without the profile's section has no credentials, and says so.
  assert.deepEqual(
    await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: missing, AWS_CONFIG_FILE: config, AWS_PROFILE: 'nobody' }),
    { error: 'shared credentials (profile nobody): no aws_access_key_id and aws_secret_access_key', absent: false },
  );
});

test('256 KiB is read whole; a byte more is refused; a directory is unreadable; a long profile name is cut in errors', async () => {
  const head = '[default]\naws_access_key_id = AKIDBIG\naws_secret_access_key = big\n';
  const exact = file('credentials', `${head}${'#'.repeat(256 * 1024 - head.length - 1)}\n`);
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: exact }), {
    accessKeyId: 'AKIDBIG',
    secretAccessKey: 'big',
  });
  // The key at the file's very end is read: the read loop reaches it.
  const tail = file(
    'credentials',
    `[default]\n${'#'.repeat(200 * 1024)}\naws_access_key_id = AKIDEND\naws_secret_access_key = end`,
  );
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: tail }), {
    accessKeyId: 'AKIDEND',
    secretAccessKey: 'end',
  });
  const over = file('credentials', `${head}${'#'.repeat(256 * 1024 - head.length)}\n`);
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: over }), {
    error: `shared credentials: ${over} is over 256 KiB`,
    absent: false,
  });
  const dir = tempDir('tollgate-aws');
  assert.deepEqual(await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: dir }), {
    error: `shared credentials: ${dir} unreadable (not a regular file)`,
    absent: false,
  });
  const long = 'p'.repeat(100);
  assert.deepEqual(await fromEnv({ AWS_PROFILE: long }), {
    error: `shared credentials (profile ${'p'.repeat(64)}): no credentials or config file`,
    absent: true,
  });
});

test('every read closes its file, a refused one too: the fetch repeats at each expiry', async () => {
  const good = file('credentials', '[default]\naws_access_key_id = A\naws_secret_access_key = B\n');
  const over = file('credentials', '#'.repeat(256 * 1024 + 1));
  const open = () => readdirSync('/proc/self/fd').length;
  const before = open();
  for (let i = 0; i < 40; i++) {
    await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: good });
    await fromEnv({ AWS_SHARED_CREDENTIALS_FILE: over });
  }
  const grown = open() - before;
  assert.ok(grown < 5, `${grown} more file descriptors open after 80 reads`);
});
