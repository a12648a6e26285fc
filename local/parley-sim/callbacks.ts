// Outgoing callbacks: one JSON POST to a Service's callback URL, without connection reuse so that
// nothing outlives the simulator. Resolves with the receiver's status, or null when none came.
import http from 'node:http';
import https from 'node:https';

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
