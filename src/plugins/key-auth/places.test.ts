// Where key-auth looks, as Kong's spec walks it ("combination #n works"): every mix of a right,
// wrong or missing key in the header, the query and a form body, under each mix of key_in_header,
// key_in_query and key_in_body. The first enabled place that holds a key decides: a wrong key
// there is a 401 even when a later place holds the right one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

const consumers = [{ username: 'bob', keyauth_credentials: [{ key: 'right' }] }];
type Key = 'right' | 'wrong' | null;
const KEYS: readonly Key[] = ['right', 'wrong', null];
// header, query, body: Kong's routes ttt, ttf, tff, fff, fft, tft, ftf.
const SWITCHES = ['ttt', 'ttf', 'tff', 'fff', 'fft', 'tft', 'ftf'];

test("the first enabled place holding a key decides, for every mix Kong's spec tries", async () => {
  const failures: string[] = [];
  for (const switches of SWITCHES) {
    const on = [...switches].map((c) => c === 't');
    const config = { key_in_header: on[0], key_in_query: on[1], key_in_body: on[2] };
    for (const header of KEYS)
      for (const query of KEYS)
        for (const body of KEYS) {
          const r = await runPlugin(
            plugin,
            config,
            {
              method: 'POST',
              headers: {
                'content-type': 'application/x-www-form-urlencoded',
                ...(header === null ? {} : { apikey: header }),
              },
              query: query === null ? '' : `apikey=${query}`,
              body: body === null ? '' : `apikey=${body}`,
            },
            { consumers },
          );
          const decides = [header, query, body].find((k, i) => on[i] && k !== null) ?? null;
          const expected = decides === 'right' ? 200 : 401;
          const got = r.exited ? r.status : 200;
          const label = `${[header, query, body].map((k) => (k ?? 'n')[0]).join('')} => ${switches}`;
          if (got !== expected) failures.push(`${label}: ${got}, expected ${expected}`);
          if (got === 401 && r.responseHeaders['www-authenticate'] !== 'Key')
            failures.push(`${label}: no WWW-Authenticate`);
        }
  }
  assert.deepEqual(failures, []);
});
