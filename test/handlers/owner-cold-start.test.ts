// GET /users/{userId}/owner as the first request of a fresh container: the catalog has no Parley
// list yet, and the owner's `default` flag must still be Parley's.
import { makeHandler as owner } from '../../functions/handlers/owner';
import type { HttpResult } from '../../functions/platform/handler';
import { apiEvent } from '../support/events';
import { BOT, type Harness, startHarness } from '../support/harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h.close();
});

describe('GET /users/{userId}/owner on a cold container', () => {
  it('answers default: true for the default service on the first request, with a Service token', async () => {
    const event = apiEvent({ method: 'GET', path: '/users/20/owner', token: h.tokens.bot.api });

    const res = (await owner(h.source)(event)) as HttpResult;

    expect(res.statusCode).toBe(200);
    expect(JSON.parse(String(res.body))).toEqual({
      userId: '20',
      owner: { identification: BOT, name: 'Bot Service', default: true },
    });
  });
});
