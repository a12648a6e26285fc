// The user's side of the simulator: a message or an event of a user becomes a callback to the
// owner's callback URL, tried up to three times until the receiver answers exactly 200 (as Parley
// does). Each attempt is one JSON POST without connection reuse, so that nothing outlives the
// simulator; it resolves with the receiver's status, or null when none came.
import http from 'node:http';
import https from 'node:https';
import { callbackJson, eventCallback, messageCallback, type ParleyCallback } from './callback-body';
import { redactText, type SimState } from './state';
import type { CallbackResult } from './types';

export const CALLBACK_TIMEOUT_MS = 10_000;

export interface CallbackPoster {
  post(url: string, headers: Record<string, string>, body: string): Promise<number | null>;
  /** Cuts every call in flight (they resolve null). */
  abortAll(): void;
}

export function createCallbackPoster(timeoutMs = CALLBACK_TIMEOUT_MS): CallbackPoster {
  const inFlight = new Set<http.ClientRequest>();

  const post = (url: string, headers: Record<string, string>, body: string) =>
    new Promise<number | null>((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        resolve(null);
        return;
      }
      const transport = target.protocol === 'https:' ? https : http;
      const payload = Buffer.from(body, 'utf8');
      let settled = false;
      let received: http.IncomingMessage | null = null;
      const finish = (status: number | null) => {
        if (settled) return;
        settled = true;
        inFlight.delete(request);
        resolve(status);
      };
      const request = transport.request(
        target,
        {
          method: 'POST',
          agent: false,
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': String(payload.length),
          },
        },
        (response) => {
          received = response;
          response.resume();
          response.on('end', () => finish(response.statusCode ?? null));
          response.on('error', () => finish(response.statusCode ?? null));
        },
      );
      inFlight.add(request);
      request.setTimeout(timeoutMs, () => request.destroy());
      request.on('error', () => finish(null));
      request.on('close', () => finish(received?.complete ? (received.statusCode ?? null) : null));
      request.end(payload);
    });

  return {
    post,
    abortAll() {
      for (const request of inFlight) request.destroy();
      inFlight.clear();
    },
  };
}

const CALLBACK_ATTEMPTS = 3;

export interface UserSide {
  sendUserMessage(userId: string, text: string): Promise<CallbackResult>;
  sendUserEvent(userId: string, name: string, body?: unknown): Promise<CallbackResult>;
  /** Cuts every callback in flight. */
  abortAll(): void;
}

export function createUserSide(
  state: SimState,
  options: { retryDelayMs: number; firstMessageId?: number },
): UserSide {
  const poster = createCallbackPoster();
  let messageSeq = (options.firstMessageId ?? state.now()) - 1;

  const deliver = async (
    userId: string,
    callback: ParleyCallback,
    loggedPayload: unknown,
  ): Promise<CallbackResult> => {
    const serviceId = state.ownerOf(userId);
    const routedAt = state.iso();
    const service = state.services.get(serviceId)!;
    const url = service.callbackUrl;
    if (!url) {
      return {
        delivered: false,
        attempts: 0,
        serviceId,
        reason: `${service.name} (${serviceId}), the owner of user ${userId}, has no callback URL: set one with PUT /_sim/services/${serviceId}/callback.`,
      };
    }
    const headers = { ...(service.callbackHeaders ?? {}) };
    const raw = callbackJson(callback);
    let attempts = 0;
    const got: string[] = [];
    while (attempts < CALLBACK_ATTEMPTS && !state.closed) {
      attempts += 1;
      const status = await poster.post(url, headers, raw);
      got.push(status === null ? 'no answer' : `HTTP ${status}`);
      state.record({
        kind: 'callback',
        at: state.iso(),
        routedAt,
        serviceId,
        userId,
        url,
        attempt: attempts,
        status,
        body: loggedPayload,
      });
      if (status === 200) return { delivered: true, attempts, serviceId };
      if (attempts < CALLBACK_ATTEMPTS) await state.sleep(options.retryDelayMs);
    }
    const reason =
      attempts < CALLBACK_ATTEMPTS
        ? `The simulator stopped after ${attempts} attempt(s) at ${url}.`
        : `${attempts} attempts at ${url} got ${got.join(', ')}: Parley wants exactly 200 and gives up after ${CALLBACK_ATTEMPTS}.`;
    return { delivered: false, attempts, serviceId, reason };
  };

  return {
    sendUserMessage(userId, text) {
      messageSeq += 1;
      const callback = messageCallback({
        userId,
        id: messageSeq,
        text,
        time: Math.floor(state.now() / 1000),
      });
      // The log keeps no message text.
      return deliver(userId, callback, {
        ...callback,
        body: { ...callback.body, message: redactText(text) },
      });
    },
    sendUserEvent(userId, name, body) {
      const callback = eventCallback({ userId, name, body });
      return deliver(userId, callback, callback);
    },
    abortAll: () => poster.abortAll(),
  };
}
