// The signed forward to a Service's downstream (DESIGN.md "Downstream signature") and the reading
// of its answer. A transport failure, a non-2xx status or a body that is not an answer becomes a
// DownstreamError naming its problem: the queue retries the callback.
import { type DownstreamAnswer, downstreamAnswerSchema } from '../../schemas/downstream';
import { DownstreamError } from '../errors';
import type { DownstreamResponse } from '../ports';
import { hostOf, signForward } from '../signature';
import type { LiveOffer } from '../lifecycle/types';
import type { ServiceInfo } from '../types';
import type { CallbackDeps, Parsed } from './deps';

/** A Downstream's timeout: an abort, or an error saying `timedOut` (the fetch adapter's). */
const isTimeout = (err: unknown): boolean =>
  err instanceof Error &&
  (err.name === 'TimeoutError' ||
    err.name === 'AbortError' ||
    (err as { timedOut?: unknown }).timedOut === true);

/** What a forward says about the callback, and the fields every log line of it carries. */
export interface ForwardedCallback {
  deliveryId: string;
  userId: string | null;
  parsed: Parsed;
  ctx: Record<string, string | null>;
  /**
   * The user's open offer as the owner lookup found it (offers/standby.ts): the owner's forward
   * and the offeree's standby copy carry `offer: { offerId, to, expiresAt }`.
   */
  offer?: LiveOffer | null;
}

/** The offer a forward to `target` carries: to its offerer (the owner), or a standby copy. */
const offerFor = (
  callback: ForwardedCallback,
  target: ServiceInfo,
  extra: Record<string, unknown>,
): Pick<LiveOffer, 'offerId' | 'to' | 'expiresAt'> | undefined => {
  const offer = callback.offer;
  if (!offer || (target.identification !== offer.from && extra.standby !== true)) return undefined;
  return { offerId: offer.offerId, to: offer.to, expiresAt: offer.expiresAt };
};

type ForwardDeps = Pick<
  CallbackDeps,
  'clock' | 'downstream' | 'downstreamTimeoutMs' | 'log' | 'metrics' | 'signingSecret'
>;

/** Posts the signed forward; a non-2xx, a timeout or a failure throws DownstreamError. */
export async function forwardSigned(
  deps: ForwardDeps,
  callback: ForwardedCallback,
  target: ServiceInfo,
  url: string,
  extra: Record<string, unknown> = {},
): Promise<DownstreamResponse> {
  const offer = offerFor(callback, target, extra);
  const body = JSON.stringify({
    deliveryId: callback.deliveryId,
    serviceId: target.identification,
    userId: callback.userId,
    type: callback.parsed.type,
    text: callback.parsed.text,
    ...extra,
    ...(offer ? { offer } : {}),
    callback: callback.parsed.value,
  });
  const timestamp = Math.floor(deps.clock.now() / 1000);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-Handover-Timestamp': String(timestamp),
    'X-Handover-Delivery': callback.deliveryId,
  };
  const secret = await deps.signingSecret(target.identification);
  if (secret) headers['X-Handover-Signature'] = signForward(secret, timestamp, body);

  const host = hostOf(url);
  const started = deps.clock.now();
  let response: DownstreamResponse;
  try {
    response = await deps.downstream.post(url, body, headers, deps.downstreamTimeoutMs);
  } catch (err) {
    const problem = isTimeout(err) ? 'timeout' : 'unreachable';
    deps.metrics.count('DownstreamFailed', 1, { problem });
    deps.log.warn('downstream failed', {
      ...callback.ctx,
      host,
      problem,
      to: target.identification,
    });
    throw new DownstreamError(host, null, problem);
  }
  deps.metrics.milliseconds('DownstreamLatency', deps.clock.now() - started);
  if (response.status < 200 || response.status > 299) {
    deps.metrics.count('DownstreamFailed', 1, { problem: 'status' });
    deps.log.warn('downstream failed', {
      ...callback.ctx,
      host,
      status: response.status,
      to: target.identification,
    });
    throw new DownstreamError(host, response.status, 'status');
  }
  deps.log.info('forwarded', {
    ...callback.ctx,
    host,
    status: response.status,
    to: target.identification,
    signed: secret !== undefined && secret !== '',
  });
  return response;
}

/** A 2xx answer: empty, or a JSON object of the answer's shape; anything else is a DownstreamError. */
export function parseAnswer(url: string, response: DownstreamResponse): DownstreamAnswer {
  if (response.body.trim() === '') return {};
  const bad = () => new DownstreamError(hostOf(url), response.status, 'bad_body');
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    throw bad();
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad();
  const answer = downstreamAnswerSchema.safeParse(json);
  if (!answer.success) throw bad();
  return answer.data;
}
