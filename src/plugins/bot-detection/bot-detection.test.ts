import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { curl, ECHO_SERVICE, startTlsGateway, TestCa, tool } from '../../../test/tls/support.ts';
import { checkRegexComplexity } from '../../safe-regex.ts';
import { runPlugin, type TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';
import { BOT_RULES, BOT_SEQUENCES } from './rules.ts';

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const SAFARI_IOS =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const BOTS = [
  'Googlebot/2.1 (+http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
  'Twitterbot/1.0',
  'Apache-HttpClient/4.5.13 (Java/11.0.11)',
  'Python-urllib/3.11',
  'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)',
  'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)',
  'Scrapy/2.11.0 (+https://scrapy.org)',
  'Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; MSIECrawler)',
  'ia_archiver (+http://www.alexa.com/site/help/webmasters)',
];
/** On the list since Kong 2.3 (uap-core of 2020): HTTP libraries, S3 clients, previews, feed readers. */
const KONG3_BOTS = [
  'Go-http-client/1.1',
  'okhttp/4.9.3',
  'axios/1.6.0',
  'reqwest/0.11',
  'aws-sdk-go/1.44.0 (go1.20; linux; amd64)',
  'Boto3/1.26.0 Python/3.11',
  'WhatsApp/2.23.20.0 A',
  'Catchpoint',
  'BUbiNG (+http://law.di.unimi.it/BUbiNG.html)',
  'Feedbin feed-id:1 - 1 subscribers',
  'Mozilla/5.0 (compatible; SiteCat Webbot)',
  'Mozilla/5.0 (Windows NT 10.0) PTST/230101.1200',
];
/** Bot-named agents without a version that no rule names: Kong 2.3 dropped uap-core's "any word ending in bot". */
const KONG3_PASSES = ['Mozilla/5.0 (compatible; MyMonitorBot)', 'robot', 'DuckDuckBot-Https'];

function call(gw: TestGateway, path: string, agents: string[]): Promise<{ status: number; body: string }> {
  const u = new URL(gw.url);
  const headers: [string, string][] = [['Host', u.host], ...agents.map((a): [string, string] => ['User-Agent', a])];
  return new Promise((resolve, reject) => {
    const r = request(
      { host: u.hostname, port: u.port, path, method: 'GET', headers: headers.flat(), timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end();
  });
}

describe('bot-detection', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startServiceGateway(
      [
        { name: 'plain', paths: ['/plain'], plugins: [{ name: 'bot-detection' }] },
        {
          name: 'lists',
          paths: ['/lists'],
          plugins: [{ name: 'bot-detection', config: { allow: ['Googlebot'], deny: ['^curl/', 'Firefox'] } }],
        },
        { name: 'whole', paths: ['/whole'], plugins: [{ name: 'bot-detection', config: { deny: ['^probe/1$'] } }] },
      ],
      { url: upstream.url },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test("Kong's priority (2500)", () => assert.equal(plugin.priority, 2500));

  test('browsers pass to the upstream', async () => {
    for (const ua of [CHROME, FIREFOX, SAFARI_IOS]) {
      const r = await call(gw, '/plain', [ua]);
      assert.equal(r.status, 200, ua + r.body);
    }
    assert.equal(upstream.requests.length, 3);
  });

  test("agents on Kong's bot list get 403 Forbidden and never reach the upstream", async () => {
    const before = upstream.requests.length;
    for (const ua of BOTS) {
      const r = await call(gw, '/plain', [ua]);
      assert.equal(r.status, 403, ua);
      assert.equal(JSON.parse(r.body).message, 'Forbidden');
    }
    assert.equal(upstream.requests.length, before);
  });

  test("Kong 3's list: the libraries and clients it added are refused, an unnamed bot without a version passes", async () => {
    for (const ua of KONG3_BOTS) assert.equal((await call(gw, '/plain', [ua])).status, 403, ua);
    for (const ua of KONG3_PASSES) assert.equal((await call(gw, '/plain', [ua])).status, 200, ua);
  });

  test('a long crafted crawler agent is still refused', async () => {
    const r = await call(gw, '/plain', [`M${'crawl'.repeat(2800)}`]);
    assert.equal(r.status, 403);
  });

  test('a request without User-Agent passes; two User-Agent headers get 400', async () => {
    assert.equal((await call(gw, '/plain', [])).status, 200);
    const r = await call(gw, '/plain', [CHROME, 'Googlebot/2.1']);
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).message, 'Only one User-Agent header allowed');
  });

  test('allow wins over the bot list; deny refuses agents the list does not know', async () => {
    assert.equal((await call(gw, '/lists', ['Googlebot/2.1'])).status, 200);
    assert.equal((await call(gw, '/lists', ['curl/8.5.0'])).status, 403);
    assert.equal((await call(gw, '/lists', [FIREFOX])).status, 403);
    assert.equal((await call(gw, '/lists', [CHROME])).status, 200);
    // the same agent again is answered from the verdict cache, with the same verdict
    assert.equal((await call(gw, '/lists', ['curl/8.5.0'])).status, 403);
    assert.equal((await call(gw, '/lists', ['bingbot/2.0'])).status, 403);
  });

  test("only ASCII whitespace around the agent is stripped, as Kong's strip(): a no-break space stays", async () => {
    assert.equal((await call(gw, '/whole', ['probe/1'])).status, 403);
    assert.equal((await call(gw, '/whole', [' probe/1\t'])).status, 403);
    // Byte 0xA0 (Latin-1 no-break space) is no space to Lua's %s; JavaScript's trim() removes it.
    assert.equal((await call(gw, '/whole', ['\u00a0probe/1'])).status, 200);
    assert.equal((await call(gw, '/whole', ['probe/1\u00a0'])).status, 200);
  });

  test('a deny pattern that backtracks super-linearly is refused at load', async () => {
    await assert.rejects(
      startServiceGateway([{ paths: ['/x'], plugins: [{ name: 'bot-detection', config: { deny: ['^(a+)+$'] } }] }]),
      (err: { issues?: { path: string; message: string }[] }) => {
        assert.ok(
          err.issues?.some((i) => i.path.endsWith('config.deny[0]') && /hostile input/.test(i.message)),
          JSON.stringify(err.issues),
        );
        return true;
      },
    );
  });

  test('a pattern with .* on both sides of a word loads and matches: a User-Agent holds no line break', async () => {
    const gw = await startServiceGateway(
      [
        {
          paths: ['/dot'],
          plugins: [{ name: 'bot-detection', config: { allow: ['^.*Googlebot.*$'], deny: ['^.*evil.*$'] } }],
        },
      ],
      { url: upstream.url },
    );
    try {
      assert.equal((await call(gw, '/dot', ['Mozilla/5.0 (evil scanner)'])).status, 403);
      assert.equal((await call(gw, '/dot', ['x Googlebot/2.1 y'])).status, 200);
      assert.equal((await call(gw, '/dot', [CHROME])).status, 200);
      // A long User-Agent gets its answer; how fast (linear in it) is `npm run bench:linear-time`.
      assert.equal((await call(gw, '/dot', [`M${'e'.repeat(8000)}`])).status, 200);
    } finally {
      await gw.close();
    }
  });

  test("a pattern with PCRE's leading (?i), as Kong's configs write it, loads and matches in any case", async () => {
    const gw = await startServiceGateway(
      [
        {
          paths: ['/ci'],
          plugins: [{ name: 'bot-detection', config: { allow: ['(?i)^monitor'], deny: ['(?im)python-requests'] } }],
        },
      ],
      { url: upstream.url },
    );
    try {
      for (const ua of ['python-requests/2.31', 'Python-Requests/2.31', 'PYTHON-REQUESTS/2.31'])
        assert.equal((await call(gw, '/ci', [ua])).status, 403, ua);
      assert.equal((await call(gw, '/ci', ['MONITOR Googlebot/2.1'])).status, 200, 'allow (?i) wins over the bot list');
      assert.equal((await call(gw, '/ci', [CHROME])).status, 200);
    } finally {
      await gw.close();
    }
  });

  test('an invalid allow pattern is refused at load, located', async () => {
    await assert.rejects(
      startServiceGateway([{ paths: ['/x'], plugins: [{ name: 'bot-detection', config: { allow: ['(unclosed'] } }] }]),
      (err: { issues?: { path: string; message: string }[] }) => {
        assert.ok(
          err.issues?.some(
            (i) =>
              i.path.endsWith('config.allow[0]') &&
              /not a valid regex: \(unclosed \(Unterminated group\)/.test(i.message),
          ),
          JSON.stringify(err.issues),
        );
        return true;
      },
    );
  });
});

describe('bot-detection over HTTP/2', { skip: tool('curl') || tool('openssl') }, () => {
  test('two User-Agent fields get 400 there too (an allowed first agent cannot carry a second)', async () => {
    const ca = new TestCa();
    const gw = await startTlsGateway(
      ca,
      `services:\n${ECHO_SERVICE}        plugins:\n          - name: bot-detection\n            config: {allow: ['^Mozilla/']}\n`,
    );
    try {
      const port = gw.proxyAddresses[0]!.split(':').pop();
      const h2 = (agents: string[]) =>
        curl([
          '--http2',
          ...['--resolve', `a.test:${port}:127.0.0.1`, '--cacert', ca.certFile],
          ...agents.flatMap((a) => ['-H', `User-Agent: ${a}`]),
          `https://a.test:${port}/echo`,
        ]);
      const two = await h2([CHROME, 'Googlebot/2.1']);
      assert.equal(two.version, '2');
      assert.equal(two.status, 400);
      assert.equal(JSON.parse(two.body).message, 'Only one User-Agent header allowed');
      assert.equal((await h2([CHROME])).status, 200);
    } finally {
      await gw.close(0);
    }
  });
});

describe('bot rules', () => {
  test('no built-in rule backtracks super-linearly on a hostile User-Agent (the load-time check)', async () => {
    // uap-core's `[Cc]rawl[a-z]*/\d` took ~30 ms per rule on `crawlcrawl...` (16 KiB), per request.
    for (const rule of BOT_RULES) {
      const c = await checkRegexComplexity(rule);
      assert.notEqual(c.verdict, 'super-linear', `${rule}: ${c.detail}`);
    }
  });

  test("the linear forms match what Kong's uap-core forms match", () => {
    // Kong's forms (kong/plugins/bot-detection/rules.lua) of the rewritten rules, which backtrack on crafted input.
    const originals = [
      String.raw`(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50}))[/ ](\d+)(?:\.(\d+)(?:\.(\d+)|)|)`,
      String.raw`(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50})) (\d+)(?:\.(\d+)(?:\.(\d+)|)|)`,
      String.raw`((?:[A-z0-9]{1,50}|[A-z\-]{1,50} ?|)(?: the |)(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[Cc][Rr][Aa][Ww][Ll])[A-z0-9]{0,50})(?:(?:[ /]| v)(\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)`,
      String.raw`(MSIE) (\d+)\.(\d+)([a-z]\d?)?;.* MSIECrawler`,
      String.raw`Google.*/\+/web/snippet`,
    ].map((r) => new RegExp(r));
    const linear = BOT_RULES.map((r) => new RegExp(r));
    const samples = [
      ...BOTS,
      CHROME,
      FIREFOX,
      SAFARI_IOS,
      'CUBOT phone',
      'my-spider 1.0',
      'Some Crawler/2',
      'somecrawler/2',
      'Crawlerx 3',
      'xcrawl/1',
      'Mozilla/4.0 (compatible; MSIE 6.0b; MSIECrawler)',
      'Google (+/+/web/snippet)',
      'Indexer 3',
      'robot',
      'abot',
      'xbotx',
      'Bot',
      'okhttp/4.9',
      'DuckDuckBot-Https/1.1',
      'Mozilla/5.0 (compatible; MyMonitorBot)',
    ];
    const seq = (ua: string) =>
      BOT_SEQUENCES.some(([first, then]) => {
        const m = first.exec(ua);
        return m !== null && ua.indexOf(then, m.index + m[0].length) >= 0;
      });
    // WebPageTest's rule, rewritten on its own: the same agents at each edge of its language.
    const ptst = / PTST\/\d+(?:\.)?\d+$/;
    const ptstLinear = new RegExp(BOT_RULES.find((r) => r.startsWith(' PTST'))!);
    for (const tail of ['1', '12', '1.2', '1..2', '.12', '12.', '1.2.3', '123 x', '12a', '9.99'])
      assert.equal(ptstLinear.test(` PTST/${tail}`), ptst.test(` PTST/${tail}`), tail);
    for (const ua of samples) {
      const before = originals.some((r) => r.test(ua));
      const after = linear.slice(-3).some((r) => r.test(ua)) || seq(ua);
      assert.equal(after, before, ua);
    }
  });

  test("Kong's PCRE spellings mean what they mean in Kong, as in route header regexes: \\A, \\z, POSIX classes", async () => {
    // Read as JavaScript, `\A` was a letter A: a deny list that never matched what Kong's refuses.
    const config = { deny: ['\\Acurl/', '^HelloWorld[[:digit:]]\\z', '\\Qprobe.v1\\E'] };
    const ua = (value: string) => runPlugin(plugin, config, { headers: { 'user-agent': value } });
    for (const agent of ['curl/7.43.0', 'HelloWorld7', 'x probe.v1 y'])
      assert.equal((await ua(agent)).status, 403, agent);
    for (const agent of ['Acurl/7.43.0', 'HelloWorldx', 'x probeXv1 y'])
      assert.equal((await ua(agent)).exited, false, agent);
  });

  test('a PCRE construct without a JavaScript form is refused at load, naming it', async () => {
    await assert.rejects(
      runPlugin(plugin, { deny: ['^(?>bot|crawler)/'] }),
      /config\.deny\[0\]: .*atomic group '\(\?>\.\.\.\)' has no JavaScript equivalent/,
    );
  });

  test('only a leading (?i) is an option setting: one later keeps its meaning, here a character class as in PCRE', async () => {
    const config = { deny: ['^agent [(?i)]$'] };
    const ua = (value: string) => runPlugin(plugin, config, { headers: { 'user-agent': value } });
    assert.equal((await ua('agent ?')).status, 403);
    assert.equal((await ua('agent i')).status, 403);
    assert.equal((await ua('AGENT ?')).exited, false, 'case-sensitive: no flag was taken from the class');
  });

  test("Kong's bounded forms: at most 30 characters between archive and .org_bot, Microsoft and Bot", async () => {
    const r = await runPlugin(plugin, {}, { headers: { 'user-agent': 'Mozilla (archive foo.org_bot)' } });
    assert.equal(r.status, 403);
    for (const [ua, bot] of [
      ['archive.org_bot', true],
      [`archive${'x'.repeat(30)}.org_bot`, true],
      [`archive${'x'.repeat(31)}.org_bot`, false],
      ['Microsoft Office Bot', true],
      [`Microsoft ${'x'.repeat(30)} Bot`, true],
      ['Mozilla/5.0 (Microsoft Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Bot', false],
    ] as const) {
      const res = await runPlugin(plugin, {}, { headers: { 'user-agent': ua } });
      assert.equal(res.exited && res.status === 403, bot, ua);
    }
  });
});
