/**
 * The strip_path / service.path joining cases of Kong's router specs
 * (spec/fixtures/router_path_handling_tests.lua, which Kong runs through its router and its
 * proxy), plus a lone `.` or `..` left after the stripped prefix, which Kong's
 * sanitize_uri_postfix drops (kong/router/utils.lua). Shared by the router's unit test and the
 * gateway test that runs every row through a real proxy.
 */

// service path | route path ('-' = host-only route) | strip_path (* = both) | path_handling (* = both) | request | upstream path
export const TABLE = `
/         | /        | * | *  | /               | /
/         | /        | * | *  | /route          | /route
/         | /        | * | *  | /route/         | /route/
/         | /        | * | *  | /routereq       | /routereq
/         | /        | * | *  | /route/req      | /route/req
/         | /route   | n | *  | /route          | /route
/         | /route   | n | *  | /route/         | /route/
/         | /route   | n | *  | /routereq       | /routereq
/         | /route   | y | *  | /route          | /
/         | /route   | y | *  | /route/         | /
/         | /route   | y | *  | /routereq       | /req
/         | /route/  | n | *  | /route/         | /route/
/         | /route/  | n | *  | /route/req      | /route/req
/         | /route/  | y | *  | /route/         | /
/         | /route/  | y | *  | /route/req      | /req
/srv      | /rou     | n | v0 | /roureq         | /srv/roureq
/srv      | /rou     | n | v1 | /roureq         | /srvroureq
/srv      | /rou     | y | v0 | /roureq         | /srv/req
/srv      | /rou     | y | v1 | /roureq         | /srvreq
/srv/     | /rou     | n | *  | /rou            | /srv/rou
/srv/     | /rou     | y | v0 | /rou            | /srv
/srv/     | /rou     | y | v1 | /rou            | /srv/
/service  | /        | * | *  | /               | /service
/service  | /        | * | v0 | /route          | /service/route
/service  | /        | * | v1 | /route          | /serviceroute
/service  | /        | * | v0 | /route/         | /service/route/
/service  | /        | * | v1 | /route/         | /serviceroute/
/service  | /        | * | v0 | /routereq       | /service/routereq
/service  | /        | * | v1 | /routereq       | /serviceroutereq
/service  | /        | * | v0 | /route/req      | /service/route/req
/service  | /        | * | v1 | /route/req      | /serviceroute/req
/service  | /route   | n | v0 | /route          | /service/route
/service  | /route   | n | v1 | /route          | /serviceroute
/service  | /route   | n | v0 | /route/         | /service/route/
/service  | /route   | n | v1 | /route/         | /serviceroute/
/service  | /route   | n | v0 | /routereq       | /service/routereq
/service  | /route   | n | v1 | /routereq       | /serviceroutereq
/service  | /route   | y | *  | /route          | /service
/service  | /route   | y | *  | /route/         | /service/
/service  | /route   | y | v0 | /routereq       | /service/req
/service  | /route   | y | v1 | /routereq       | /servicereq
/service  | /route/  | n | v0 | /route/         | /service/route/
/service  | /route/  | n | v1 | /route/         | /serviceroute/
/service  | /route/  | n | v0 | /route/req      | /service/route/req
/service  | /route/  | n | v1 | /route/req      | /serviceroute/req
/service  | /route/  | y | v0 | /route/         | /service/
/service  | /route/  | y | v1 | /route/         | /service
/service  | /route/  | y | v0 | /route/req      | /service/req
/service  | /route/  | y | v1 | /route/req      | /servicereq
/service/ | /        | * | *  | /route/         | /service/route/
/service/ | /        | * | *  | /               | /service/
/service/ | /        | * | *  | /route          | /service/route
/service/ | /        | * | *  | /routereq       | /service/routereq
/service/ | /        | * | *  | /route/req      | /service/route/req
/service/ | /route   | n | *  | /route          | /service/route
/service/ | /route   | n | *  | /route/         | /service/route/
/service/ | /route   | n | *  | /routereq       | /service/routereq
/service/ | /route   | y | v0 | /route          | /service
/service/ | /route   | y | v1 | /route          | /service/
/service/ | /route   | y | *  | /route/         | /service/
/service/ | /route   | y | *  | /routereq       | /service/req
/service/ | /route/  | n | *  | /route/         | /service/route/
/service/ | /route/  | n | *  | /route/req      | /service/route/req
/service/ | /route/  | y | *  | /route/         | /service/
/service/ | /route/  | y | *  | /route/req      | /service/req
/         | -        | * | *  | /               | /
/         | -        | * | *  | /route          | /route
/         | -        | * | *  | /route/         | /route/
/service  | -        | * | *  | /               | /service
/service  | -        | * | v0 | /route          | /service/route
/service  | -        | * | v1 | /route          | /serviceroute
/service  | -        | * | v0 | /route/         | /service/route/
/service  | -        | * | v1 | /route/         | /serviceroute/
/service/ | -        | * | *  | /               | /service/
/service/ | -        | * | *  | /route          | /service/route
/service/ | -        | * | *  | /route/         | /service/route/
/service  | /route   | y | v0 | /route./req     | /service/req
/service  | /route   | y | v1 | /route./req     | /servicereq
/service/ | /route   | y | *  | /route./req     | /service/req
/service  | /route   | y | v0 | /route%2E/req   | /service/req
/service  | /route   | y | v1 | /route%2E/req   | /servicereq
/service/ | /route   | y | *  | /route%2E/req   | /service/req
/service  | /route   | y | v0 | /route%2e/req   | /service/req
/service  | /route   | y | v1 | /route%2e/req   | /servicereq
/service/ | /route   | y | *  | /route%2e/req   | /service/req
/service  | /route   | y | v0 | /route../req    | /service/req
/service  | /route   | y | v1 | /route../req    | /servicereq
/service/ | /route   | y | *  | /route../req    | /service/req
/service  | /route   | y | v0 | /route%2E%2E/req | /service/req
/service  | /route   | y | v1 | /route%2E%2E/req | /servicereq
/service/ | /route   | y | *  | /route%2E%2E/req | /service/req
/service  | /route   | y | v0 | /route%2e%2E/req | /service/req
/service  | /route   | y | v1 | /route%2e%2E/req | /servicereq
/service/ | /route   | y | *  | /route%2e%2E/req | /service/req
/service  | /route   | n | v0 | /route./req     | /service/route./req
/service  | /route   | n | v1 | /route./req     | /serviceroute./req
/service/ | /route   | n | *  | /route./req     | /service/route./req
/service  | /route   | n | v0 | /route%2E/req   | /service/route./req
/service  | /route   | n | v1 | /route%2E/req   | /serviceroute./req
/service/ | /route   | n | *  | /route%2E/req   | /service/route./req
/service  | /route   | n | v0 | /route%2e/req   | /service/route./req
/service  | /route   | n | v1 | /route%2e/req   | /serviceroute./req
/service/ | /route   | n | *  | /route%2e/req   | /service/route./req
/service  | /route   | n | v0 | /route../req    | /service/route../req
/service  | /route   | n | v1 | /route../req    | /serviceroute../req
/service/ | /route   | n | *  | /route../req    | /service/route../req
/service  | /route   | n | v0 | /route%2E%2E/req | /service/route../req
/service  | /route   | n | v1 | /route%2E%2E/req | /serviceroute../req
/service/ | /route   | n | *  | /route%2E%2E/req | /service/route../req
/service  | /route   | n | v0 | /route%2e%2E/req | /service/route../req
/service  | /route   | n | v1 | /route%2e%2E/req | /serviceroute../req
/service/ | /route   | n | *  | /route%2e%2E/req | /service/route../req
/         | /route   | y | *  | /route.         | /
/         | /route   | y | *  | /route..        | /
/service  | /route   | y | *  | /route.         | /service
/service  | /route   | y | *  | /route%2E       | /service
/service  | /route   | y | *  | /route..        | /service
/service/ | /route   | y | v0 | /route.         | /service
/service/ | /route   | y | v1 | /route.         | /service/
/service/ | /route   | y | v0 | /route..        | /service
/service/ | /route   | y | v1 | /route..        | /service/
/service  | /route   | n | v0 | /route.         | /service/route.
/service  | /route   | n | v1 | /route..        | /serviceroute..
`;

export interface Case {
  servicePath: string;
  routePath: string | null;
  strip: boolean;
  handling: 'v0' | 'v1';
  request: string;
  expected: string;
}

export function expand(): Case[] {
  const cases: Case[] = [];
  for (const line of TABLE.trim().split('\n')) {
    const [servicePath, routePath, strip, handling, request, expected] = line.split('|').map((s) => s.trim()) as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    for (const s of strip === '*' ? [false, true] : [strip === 'y']) {
      for (const h of handling === '*' ? (['v0', 'v1'] as const) : [handling as 'v0' | 'v1']) {
        cases.push({
          servicePath,
          routePath: routePath === '-' ? null : routePath,
          strip: s,
          handling: h,
          request,
          expected,
        });
      }
    }
  }
  return cases;
}
