// A reply message may be 4 MiB: decoded as it came, 4 MiB of empty repeated strings (2 million
// values) held the event loop 0.25 to 0.4 s and made 6 MB of JSON. Through a real gateway and a
// real gRPC service: a reply of MAX_REPLY_VALUES values is relayed as JSON, one more cuts the
// answer, as a reply over 4 MiB does, and the log says why.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { GREETER_METHODS, GREETER_PROTO } from '../../../test/support/greeter.ts';
import { rawMethod } from '../../../test/support/grpc.ts';
import { MAX_REPLY_VALUES } from '../../lib/grpc-transcode.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

/** An EchoMsg whose `array` holds `n` empty strings: `n` values, each its field's tag and a 0 length. */
const arrayOf = (n: number): Buffer => Buffer.alloc(2 * n).fill(Buffer.from([0x0a, 0x00]));

let server: grpc.Server;
let gw: TestGateway;

before(async () => {
  server = new grpc.Server();
  server.addService(
    { echo: rawMethod(`${GREETER_METHODS}Echo`) },
    {
      // The request names the reply: `{"nullable": "past"}` asks for one value past the bound.
      echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done(null, arrayOf(MAX_REPLY_VALUES + (c.request.includes('past') ? 1 : 0))),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'greeter',
          url: `grpc://127.0.0.1:${port}`,
          routes: [
            {
              name: 'rest',
              protocols: ['http', 'https'],
              paths: ['/v1'],
              strip_path: false,
              plugins: [{ name: 'grpc-gateway', config: { proto: GREETER_PROTO } }],
            },
          ],
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  server?.forceShutdown();
});

/** The JSON answered, or 'cut' when the client's transfer failed. */
function echo(which: string): Promise<unknown> {
  const body = JSON.stringify({ nullable: which });
  return request(`${gw.url}/v1/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
    (res) =>
      res.body.text().then(
        (text) => JSON.parse(text) as unknown,
        () => 'cut',
      ),
    () => 'cut',
  );
}

test(`a reply of ${MAX_REPLY_VALUES} values is relayed; one more value and the answer is cut`, async () => {
  const at = (await echo('at')) as { array: string[] };
  assert.equal(at.array.length, MAX_REPLY_VALUES);
  assert.equal(await echo('past'), 'cut');
  assert.ok(gw.logs.some((l) => JSON.stringify(l).includes(`more than ${MAX_REPLY_VALUES} values`)));
});
