// classifyForward (domain/failover/classify.ts): which forward outcomes mean the desk is down,
// misconfigured, or up.
import { DownstreamError } from '../../../functions/domain/errors';
import { classifyForward } from '../../../functions/domain/failover/classify';

const status = (code: number) => new DownstreamError('desk.example', code, 'status');

describe('classifyForward', () => {
  it('counts a timeout, no connection, 5xx, 429 and an answer that is not one as failures', () => {
    const outcomes = [
      new DownstreamError('desk.example', null, 'timeout'),
      new DownstreamError('desk.example', null, 'unreachable'),
      status(500),
      status(502),
      status(503),
      status(429),
      new DownstreamError('desk.example', 200, 'bad_body'),
    ].map(classifyForward);

    expect(outcomes).toEqual(Array(7).fill('failure'));
  });

  it('reads 401, 403 and 404 as a misconfigured desk', () => {
    expect([401, 403, 404].map((s) => classifyForward(status(s)))).toEqual([
      'misconfiguration',
      'misconfiguration',
      'misconfiguration',
    ]);
  });

  it('reads any other answer as a desk that is up: a success, or a refusal of this message', () => {
    expect([null, status(400), status(409), status(410), status(422)].map(classifyForward)).toEqual(
      ['success', 'refused', 'refused', 'refused', 'refused'],
    );
  });
});
