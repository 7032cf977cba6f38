// The redis counter store against a real redis-server: requests of one event-loop turn that count
// the same windows share one script call, and each gets what a call of its own would have answered.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { redisUnavailable, startRedis, type TestRedis } from '../../test/support/redis.ts';
import { RedisCounters } from './counters.ts';

const skip = redisUnavailable();
const SETTINGS = {
  host: '127.0.0.1',
  port: 0,
  timeout: 2000,
  username: null,
  password: null,
  database: 0,
  ssl: false,
  ssl_verify: false,
  server_name: null,
};

describe('RedisCounters', { skip: skip ?? false }, () => {
  let redis: TestRedis;
  let store: RedisCounters;
  let keyspace = 0;
  /** Fresh keys for each test: `n` windows of one identifier. */
  const windows = (n: number) => {
    keyspace++;
    return Array.from({ length: n }, (_, i) => `test:${keyspace}:w${i}`);
  };
  const inAMinute = (n: number) => Array.from({ length: n }, () => Date.now() + 60_000);
  const stored = async (keys: string[]) =>
    (await store.client!.mget(...keys)).map((v) => (v === null ? null : Number(v)));
  /** Script calls Redis has run so far (EVALSHA, and EVAL the first time), from INFO commandstats. */
  const scriptCalls = async () => {
    const info = await store.client!.info('commandstats');
    let calls = 0;
    for (const m of info.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)) calls += Number(m[1]);
    return calls;
  };
  /** What `run` answered, and how many script calls it cost. */
  const counted = async <T>(run: () => Promise<T>): Promise<{ answers: T; calls: number }> => {
    const before = await scriptCalls();
    const answers = await run();
    return { answers, calls: (await scriptCalls()) - before };
  };

  before(async () => {
    redis = await startRedis();
    store = new RedisCounters(
      { ...SETTINGS, port: redis.port },
      () => {},
      () => {},
    );
    await store.open();
  });
  after(async () => {
    await store?.close();
    await redis?.stop();
  });

  test('one turn: the first that fit are admitted in order, the rest refused, each with the counts it saw', async () => {
    const keys = windows(2);
    const limits = [3, 10];
    const { answers, calls } = await counted(() =>
      Promise.all(Array.from({ length: 5 }, () => store.hit(keys, limits, inAMinute(2)))),
    );
    assert.equal(calls, 1, 'one script call for the five');
    assert.deepEqual(answers, [
      [0, 0, 0],
      [1, 1, 0],
      [2, 2, 0],
      [3, 3, 1],
      [3, 3, 1],
    ]);
    assert.deepEqual(await stored(keys), [3, 3], 'only the admitted ones are counted, in every window');
    // The next turn goes on from Redis's counts.
    assert.deepEqual(await store.hit(keys, limits, inAMinute(2)), [3, 3, 1]);
  });

  test('the tightest window decides, whichever it is', async () => {
    const keys = windows(2);
    const answers = await Promise.all(Array.from({ length: 4 }, () => store.hit(keys, [10, 2], inAMinute(2))));
    assert.deepEqual(
      answers.map((a) => a[2]),
      [0, 0, 1, 1],
    );
    assert.deepEqual(answers[3], [2, 2, 1]);
    assert.deepEqual(await stored(keys), [2, 2]);
  });

  test('a limit of 0 refuses every request and counts nothing', async () => {
    const keys = windows(1);
    const answers = await Promise.all([store.hit(keys, [0], inAMinute(1)), store.hit(keys, [0], inAMinute(1))]);
    assert.deepEqual(answers, [
      [0, 1],
      [0, 1],
    ]);
    assert.deepEqual(await stored(keys), [null]);
  });

  test('a new counter expires at its window end; an existing one keeps its expiry', async () => {
    const keys = windows(1);
    const end = Date.now() + 30_000;
    const ends = [end];
    const first = store.hit(keys, [100], ends);
    ends[0] = end + 600_000; // the caller's windows move on before the batch leaves
    await first;
    const ttl = await store.client!.pttl(keys[0]!);
    assert.ok(ttl > 25_000 && ttl <= 30_000, `expiry of the window the request counted in (${ttl} ms)`);
    await store.hit(keys, [100], [Date.now() + 600_000]);
    const again = await store.client!.pttl(keys[0]!);
    assert.ok(again <= 30_000, `an existing counter keeps its expiry (${again} ms)`);
    assert.deepEqual(await stored(keys), [2]);
  });

  test('other windows in the same turn are counted apart', async () => {
    const a = windows(1);
    const b = windows(1);
    const limits = [5];
    const { answers, calls } = await counted(() =>
      Promise.all([
        store.hit(a, limits, inAMinute(1)),
        store.hit(b, limits, inAMinute(1)),
        store.hit(a, limits, inAMinute(1)),
        store.hit(b, limits, inAMinute(1)),
      ]),
    );
    assert.equal(calls, 2, 'one call for each set of windows');
    assert.deepEqual(answers, [
      [0, 0],
      [0, 0],
      [1, 0],
      [1, 0],
    ]);
  });

  test('window lists that share a key or join to the same text are still batched each on its own', async () => {
    const limits = [5, 5];
    const lists = [
      ['s:1', 's:2'],
      ['s:1', 's:3'],
      ['p:a', 'bp:c'],
      ['p:ab', 'p:c'],
    ];
    const { answers, calls } = await counted(() =>
      Promise.all([...lists, ...lists].map((keys) => store.hit(keys, limits, inAMinute(2)))),
    );
    assert.equal(calls, 4, 'one call for each list, though they alternate');
    // The batches run in the order their first requests came: the two lists sharing `s:1` count
    // in it one after the other, the second seeing the first's two requests.
    assert.deepEqual(answers, [
      [0, 0, 0],
      [2, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
      [1, 1, 0],
      [3, 1, 0],
      [1, 1, 0],
      [1, 1, 0],
    ]);
  });

  test('a store used before it connected: the first requests wait for the connection', async () => {
    const fresh = new RedisCounters(
      { ...SETTINGS, port: redis.port },
      () => {},
      () => {},
    );
    try {
      const keys = windows(1);
      const answers = await Promise.all([fresh.hit(keys, [5], inAMinute(1)), fresh.hit(keys, [5], inAMinute(1))]);
      assert.deepEqual(answers, [
        [0, 0],
        [1, 0],
      ]);
    } finally {
      await fresh.close();
    }
  });

  test('a username without a password sends no AUTH, as Kong authenticates only when a password is set', async () => {
    // This Redis has no user `reader`: an AUTH sent anyway would fail every command (WRONGPASS),
    // where Kong's store works, having sent none.
    const down: string[] = [];
    const named = new RedisCounters(
      { ...SETTINGS, port: redis.port, username: 'reader', timeout: 1000 },
      (m) => down.push(m),
      () => {},
    );
    try {
      const keys = windows(1);
      assert.deepEqual(await named.hit(keys, [5], inAMinute(1)), [0, 0]);
      assert.deepEqual(down, []);
    } finally {
      await named.close();
    }
  });

  test('a Redis ACL user needs the commands docs/plugins/rate-limiting.md lists; the ones Kong needs are not enough', async () => {
    const documented = ['+evalsha', '+eval', '+get', '+mget', '+incrby', '+pexpireat', '+select', '+info'];
    // Kong's policies run EVAL (INCR, EXPIRE inside), GET, INCRBY, EXPIRE, EXISTS and SELECT.
    const kongs = ['+eval', '+incr', '+expire', '+get', '+incrby', '+exists', '+select', '+info'];
    await store.client!.acl('SETUSER', 'counter', 'on', 'allkeys', ...documented, '>pw');
    await store.client!.acl('SETUSER', 'kongish', 'on', 'allkeys', ...kongs, '>pw');
    const as = (username: string, down: string[]) =>
      new RedisCounters(
        { ...SETTINGS, port: redis.port, username, password: 'pw', database: 1, timeout: 1000 },
        (m) => down.push(m),
        () => {},
      );
    const down: string[] = [];
    const counter = as('counter', down);
    const kongish = as('kongish', []);
    try {
      const keys = windows(2);
      assert.deepEqual(await counter.hit(keys, [5, 5], inAMinute(2)), [0, 0, 0]);
      await counter.increment(keys, 2, inAMinute(2));
      assert.deepEqual(await counter.usage(keys), [3, 3]);
      assert.deepEqual(down, []);
      // PEXPIREAT, inside the script; then MGET.
      await assert.rejects(kongish.hit(windows(1), [5], inAMinute(1)), /can't run this command/);
      await assert.rejects(kongish.usage(keys), /NOPERM/);
    } finally {
      await counter.close();
      await kongish.close();
    }
  });

  test('the same windows under other limits in one turn: counted in the order asked', async () => {
    const keys = windows(1);
    const loose = [5];
    const tight = [2];
    const { answers, calls } = await counted(() =>
      Promise.all([
        store.hit(keys, loose, inAMinute(1)),
        store.hit(keys, loose, inAMinute(1)),
        store.hit(keys, tight, inAMinute(1)),
        store.hit(keys, loose, inAMinute(1)),
      ]),
    );
    assert.equal(calls, 3, 'a change of limits starts another call');
    assert.deepEqual(answers, [
      [0, 0],
      [1, 0],
      [2, 1],
      [2, 0],
    ]);
    assert.deepEqual(await stored(keys), [3]);
  });

  test('key lists that join alike but differ are counted apart', async () => {
    const limits = [5, 5];
    const [a, b] = await Promise.all([
      store.hit(['j:x\ny', 'j:z'], limits, inAMinute(2)),
      store.hit(['j:x', 'y\nj:z'], limits, inAMinute(2)),
      store.hit(['j:x\ny'], [5], inAMinute(1)),
    ]);
    assert.deepEqual(a, [0, 0, 0]);
    assert.deepEqual(b, [0, 0, 0], 'the second list is not a later request of the first');
  });

  test('closing while Redis hangs does not wait for the pending commands: they fail at once', async () => {
    // A long timeout, as Kong's 0 (60 s) is: closing used to wait for it before QUIT was answered.
    const hanging = new RedisCounters(
      { ...SETTINGS, port: redis.port, timeout: 30_000 },
      () => {},
      () => {},
    );
    await hanging.open();
    const keys = windows(1);
    assert.deepEqual(await hanging.hit(keys, [5], inAMinute(1)), [0, 0]);
    redis.hang();
    try {
      const pending = hanging.hit(keys, [5], inAMinute(1)).catch((err: Error) => err);
      await hanging.close();
      const outcome = await pending;
      assert.ok(outcome instanceof Error);
      // Ended by the closed connection, not by its 30 s deadline.
      assert.match(outcome.message, /Connection is closed/);
    } finally {
      redis.resume();
    }
  });

  test('Redis gone: every request of the batch is refused with the error, none hangs', async () => {
    const keys = windows(1);
    await redis.stop();
    try {
      const settled = await Promise.allSettled(
        Array.from({ length: 3 }, () => store.hit(keys, [5], inAMinute(1))),
      ).then((all) => all.map((s) => s.status));
      assert.deepEqual(settled, ['rejected', 'rejected', 'rejected']);
    } finally {
      await redis.restart();
    }
  });
});
