/**
 * The bot list Kong's bot-detection plugin ships: patterns of user agents of crawlers, spiders,
 * monitors and HTTP libraries, from ua-parser's uap-core regexes (Apache-2.0). Kong matches them
 * case-sensitively anywhere in the User-Agent (`ngx.re.find` with "jo").
 *
 * Only whether a rule matches matters (Kong ignores the captures), so the patterns are written in
 * forms that match exactly the same user agents but cannot backtrack catastrophically in a
 * backtracking engine: optional prefixes and suffixes around the part that must be present are
 * dropped (they never change whether a search finds a match), and the four patterns of the form
 * "A, then later B" (`A.*B`) are checked as two searches (`BOT_SEQUENCES`), which is linear. With
 * uap-core's original forms a crafted 2 KiB User-Agent took tens of milliseconds per rule.
 */
/** Patterns of which one match anywhere in the User-Agent makes it a bot. */
export const BOT_RULES: readonly string[] = [
  String.raw`(Pingdom.com_bot_version_)(\d+)\.(\d+)`,
  String.raw`(facebookexternalhit)/(\d+)\.(\d+)`,
  String.raw`(Twitterbot)/(\d+)\.(\d+)`,
  String.raw`/((?:Ant-)?Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-](\d+)(?:\.(\d+)(?:\.(\d+))?)?`,
  String.raw`(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|PathDefender|Peew|PostPost|Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|wminer)/(\d+)(?:\.(\d+)(?:\.(\d+))?)?`,
  '(Google-HTTP-Java-Client|Apache-HttpClient|http%20client|Python-urllib|HttpMonitor|TLSProber|WinHTTP|JNLP)',
  String.raw`(1470\.net crawler|50\.nu|8bo Crawler Bot|Aboundex|Accoona-[A-z]+-Agent|AdsBot-Google|altavista|AppEngine-Google|archiver|Ask Jeeves|[Bb]ai[Dd]u[Ss]pider|bingbot|BingPreview|blitzbot|BlogBridge|BoardReader|boitho.com-dc|BotSeer|favicon|\bYeti|Catchpoint bot|[Cc]harlotte|Checklinks|clumboot|Comodo HTTP\(S\) Crawler|Comodo-Webinspector-Crawler|ConveraCrawler|CRAWL-E|CrawlConvera|Daumoa|Feed Seeker Bot|findlinks|Flamingo_SearchEngine|FollowSite Bot|furlbot|Genieo|gigabot|GomezAgent|gonzo1|Googlebot|Google SketchUp|grub-client|gsa-crawler|heritrix|HiddenMarket|holmes|HooWWWer|htdig|ia_archiver|ICC-Crawler|Icarus6j|ichiro|IconSurf|IlTrovatore|InfuzApp|Innovazion Crawler|InternetArchive|IP2[a-z]+Bot|jbot\b|KaloogaBot|Kraken|Kurzor|larbin|LEIA|LesnikBot|Linguee Bot|LinkAider|LinkedInBot|Lite Bot|Llaut|lycos|Mail\.RU_Bot|masidani_bot|Mediapartners-Google|mogimogi|mozDex|MJ12bot|msnbot|msrbot|netresearch|Netvibes|NewsGator|^NING|Nutch|Nymesis|ObjectsSearch|Orbiter|OOZBOT|PagePeeker|PagesInventory|PaxleFramework|Peeplo Screenshot Bot|PlantyNet_WebRobot|Pompos|Read%20Later|Reaper|RedCarpet|Retreiver|Riddler|Rival IQ|scooter|Scrapy|Scrubby|searchsight|seekbot|semanticdiscovery|Simpy|SimplePie|SEOstats|SimpleRSS|SiteCon|Slurp|snappy|Speedy Spider|Squrl Java|TheUsefulbot|ThumbShotsBot|Thumbshots\.ru|TwitterBot|URL2PNG|Vagabondo|VoilaBot|^vortex|Votay bot|^voyager|WASALive.Bot|Web-sniffer|WebThumb|WeSEE:[A-z]|WhatWeb|WIRE|WordPress|Wotbox|www\.almaden\.ibm\.com|Xenu(?:.s)? Link Sleuth|Xerka [A-z]+Bot|yacy|Yahoo[a-z]*Seeker|Yahoo! Slurp|Yandex\w|YodaoBot|YottaaMonitor|Yowedo|^Zao|^Zao-Crawler|ZeBot_www\.ze\.bz|ZooShot|ZyBorg)`,
  // uap-core's `[Cc]rawl[a-z]*` alternative is left out of these two: every agent it would match
  // contains `crawl`/`Crawl`, which the last rule's `[Cc][Rr][Aa][Ww][Ll]` matches anyway, and it
  // backtracked quadratically (each `crawl` of `crawlcrawl...` scanned to the end of the run:
  // ~30 ms per rule on a 16 KiB User-Agent).
  String.raw`(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider)/\d`,
  String.raw`(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider) \d`,
  '[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[^C][^Uu][Bb]ot|[Cc][Rr][Aa][Ww][Ll]',
];

/** "first, then somewhere after it, `then`": the uap-core patterns of the form `A.*B`. */
export const BOT_SEQUENCES: readonly (readonly [first: RegExp, then: string])[] = [
  [/Google/, '/+/web/snippet'],
  [/MSIE \d+\.\d+(?:[a-z]\d?)?;/, ' MSIECrawler'],
  [/archive/, '.org_bot'],
  [/Microsoft /, ' Bot'],
];
