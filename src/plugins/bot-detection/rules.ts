/**
 * The bot list Kong 3's bot-detection plugin ships (its rules.lua, from ua-parser's uap-core regexes
 * as Kong 2.3 took them in 2020, Apache-2.0): patterns of user agents of crawlers, spiders, monitors,
 * HTTP libraries and S3 clients. Kong matches them case-sensitively anywhere in the User-Agent
 * (`ngx.re.find` with "jo").
 *
 * Only whether a rule matches matters (Kong ignores the captures), so the patterns are written in
 * forms that match the same user agents (names longer than Kong's `{1,30}` bounds aside) but cannot
 * backtrack catastrophically in a backtracking engine: optional prefixes and suffixes around the
 * part that must be present are dropped (they never change whether a search finds a match), and
 * the patterns of the form "A, then later B" (`A.*B`, `A.{0,30}B`) are checked as searches
 * (`BOT_SEQUENCES`, `BOT_NEAR`), which is linear. With uap-core's original forms a crafted 2 KiB
 * User-Agent took tens of milliseconds per rule.
 */
/** Patterns of which one match anywhere in the User-Agent makes it a bot. */
export const BOT_RULES: readonly string[] = [
  String.raw`(Pingdom.com_bot_version_)(\d+)\.(\d+)`,
  String.raw`(facebookexternalhit)/(\d+)\.(\d+)`,
  String.raw`(Twitterbot)/(\d+)\.(\d+)`,
  // AWS S3 clients; the optional patch number after `\d+\.\d+` never changes whether it matches.
  String.raw`\b(?:Boto3?|JetS3t|aws-(?:cli|sdk-(?:cpp|go|java|nodejs|ruby2?|dotnet-(?:\d{1,2}|core)))|s3fs)/\d+\.\d`,
  // WebPageTest's ` PTST/\d+(?:\.)?\d+$`, which backtracks quadratically on a long run of digits,
  // written as the same language (two or more digits, at most one dot between two of them) in a
  // form that cannot.
  String.raw` PTST/\d(?:\d*\.\d|\d)\d*$`,
  String.raw`/((?:Ant-)?Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-](\d+)(?:\.(\d+)(?:\.(\d+))?)?`,
  String.raw`(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|PathDefender|Peew|PostPost|Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|wminer)/(\d+)(?:\.(\d+)(?:\.(\d+))?)?`,
  '(Google-HTTP-Java-Client|Apache-HttpClient|Go-http-client|scalaj-http|http%20client|Python-urllib|HttpMonitor|TLSProber|WinHTTP|JNLP|okhttp|aihttp|reqwest|axios|unirest-(?:java|python|ruby|nodejs|php|net))',
  String.raw`(CSimpleSpider|Cityreview Robot|CrawlDaddy|CrawlFire|Finderbots|Index crawler|Job Roboter|KiwiStatus Spider|Lijit Crawler|QuerySeekerSpider|ScollSpider|Trends Crawler|USyd-NLP-Spider|SiteCat Webbot|BotName\/\$BotVersion|123metaspider-Bot|1470\.net crawler|50\.nu|8bo Crawler Bot|Aboundex|Accoona-[A-z]+-Agent|AdsBot-Google|altavista|AppEngine-Google|archiver|Ask Jeeves|[Bb]ai[Dd]u[Ss]pider|bingbot|BingPreview|blitzbot|BlogBridge|Bloglovin|BoardReader|boitho.com-dc|BotSeer|BUbiNG|favicon|\bYeti|Catchpoint|[Cc]harlotte|Checklinks|clumboot|Comodo HTTP\(S\) Crawler|Comodo-Webinspector-Crawler|ConveraCrawler|CRAWL-E|CrawlConvera|Daumoa|Feed Seeker Bot|Feedbin|findlinks|Flamingo_SearchEngine|FollowSite Bot|furlbot|Genieo|gigabot|GomezAgent|gonzo1|Googlebot|Google SketchUp|grub-client|gsa-crawler|heritrix|HiddenMarket|holmes|HooWWWer|htdig|ia_archiver|ICC-Crawler|Icarus6j|ichiro|IconSurf|IlTrovatore|InfuzApp|Innovazion Crawler|InternetArchive|IP2[a-z]+Bot|jbot\b|KaloogaBot|Kraken|Kurzor|larbin|LEIA|LesnikBot|Linguee Bot|LinkAider|LinkedInBot|Lite Bot|Llaut|lycos|Mail\.RU_Bot|masscan|masidani_bot|Mediapartners-Google|mogimogi|mozDex|MJ12bot|msnbot|msrbot|Mtps Feed Aggregation System|netresearch|Netvibes|NewsGator|^NING|Nutch|Nymesis|ObjectsSearch|OgScrper|Orbiter|OOZBOT|PagePeeker|PagesInventory|PaxleFramework|Peeplo Screenshot Bot|PlantyNet_WebRobot|Pompos|Qwantify|Read%20Later|Reaper|RedCarpet|Retreiver|Riddler|Rival IQ|scooter|Scrapy|Scrubby|searchsight|seekbot|semanticdiscovery|SemrushBot|Simpy|SimplePie|SEOstats|SimpleRSS|SiteCon|Slackbot-LinkExpanding|Slack-ImgProxy|Slurp|snappy|Speedy Spider|Squrl Java|Stringer|TheUsefulbot|ThumbShotsBot|Thumbshots\.ru|Tiny Tiny RSS|Twitterbot|WhatsApp|URL2PNG|Vagabondo|VoilaBot|^vortex|Votay bot|^voyager|WASALive.Bot|Web-sniffer|WebThumb|WeSEE:[A-z]|WhatWeb|WIRE|WordPress|Wotbox|www\.almaden\.ibm\.com|Xenu(?:.s)? Link Sleuth|Xerka [A-z]+Bot|yacy|Yahoo[a-z]*Seeker|Yahoo! Slurp|Yandex\w|YodaoBot|YottaaMonitor|Yowedo|^Zao|^Zao-Crawler|ZeBot_www\.ze\.bz|ZooShot|ZyBorg)`,
  // uap-core's `[Cc]rawl[a-z]*` alternative is left out of these two: every agent it would match
  // contains `crawl`/`Crawl`, which the last rule's `[Cc][Rr][Aa][Ww][Ll]` matches anyway, and it
  // backtracked quadratically (each `crawl` of `crawlcrawl...` scanned to the end of the run:
  // ~30 ms per rule on a 16 KiB User-Agent).
  String.raw`(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider)/\d`,
  String.raw`(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider) \d`,
  // Kong 2.3 took uap-core's `[^C][^Uu][Bb]ot` (any word ending in bot but CUBOT) out of this rule:
  // a bot name without a version is refused only when the list above names it.
  '[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[Cc][Rr][Aa][Ww][Ll]',
];

/** "first, then somewhere after it, `then`": the uap-core patterns of the form `A.*B`. */
export const BOT_SEQUENCES: readonly (readonly [first: RegExp, then: string])[] = [
  [/Google/, '/+/web/snippet'],
  [/MSIE \d+\.\d+(?:[a-z]\d?)?;/, ' MSIECrawler'],
];

/**
 * Kong's `archive.{0,30}\.org_bot` and `Microsoft .{0,30} Bot`: `first`, then `then` at most
 * `within` characters after it. Unbounded, a longer agent (`Mozilla/5.0 (Microsoft Windows NT
 * 10.0; Win64; x64; rv:120.0) Gecko/20100101 Bot`) was refused where Kong lets it pass; as regexes
 * the load-time check may call them polynomial, so each `then` is looked for once and the few
 * characters before it searched for `first`, which is linear.
 */
export const BOT_NEAR: readonly (readonly [first: string, then: string, within: number])[] = [
  ['archive', '.org_bot', 30],
  ['Microsoft ', ' Bot', 30],
];
