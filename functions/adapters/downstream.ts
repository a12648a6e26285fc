// Forwards to a Service's program (bot engine, agent desk): the `Downstream` port on fetch.
// A POST with the caller's (signed) headers, a timeout through AbortController that covers the
// body as well, no redirects followed (a signed body goes to the configured host only), and a
// size cap on the answer. Failures name the host only: a URL's path or query may carry a key.
// The domain turns a DownstreamTransportError into its DownstreamError (what the queue retries).
import { hostOf } from '../domain/signature';
import type { Downstream, DownstreamResponse } from '../domain/ports';

export interface DownstreamOptions {
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Answers above this are refused. @default 1 MiB */
  maxResponseBytes?: number;
}

/**
 * A forward that did not produce a usable answer (no answer in time, no connection, an answer too
 * large). The message names the host, nothing more. `timedOut` tells the domain a timeout apart.
 */
export class DownstreamTransportError extends Error {
  constructor(
    message: string,
    readonly host: string,
    readonly timedOut: boolean,
    /** A network error code such as ECONNREFUSED, when known. */
    readonly errorCode?: string,
  ) {
    super(message);
    this.name = 'DownstreamTransportError';
  }
}

/** The `code` of an error or of its cause (undici wraps socket errors as `cause`). */
const codeOf = (err: unknown): string | undefined => {
  for (let e: unknown = err, i = 0; e && typeof e === 'object' && i < 3; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
};

async function readCapped(response: Response, maxBytes: number, host: string): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new DownstreamTransportError(
        `Downstream ${host} answered with more than ${maxBytes} bytes.`,
        host,
        false,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createDownstream(options: DownstreamOptions = {}): Downstream {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const maxBytes = options.maxResponseBytes ?? 1024 * 1024;

  return {
    async post(url, body, headers, timeoutMs): Promise<DownstreamResponse> {
      const host = hostOf(url);
      const requestHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(headers)) {
        if (name.toLowerCase() !== 'content-type') requestHeaders[name] = value;
      }
      requestHeaders['Content-Type'] = 'application/json';

      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      try {
        const response = await fetchFn(url, {
          method: 'POST',
          headers: requestHeaders,
          body,
          redirect: 'manual',
          signal: controller.signal,
        });
        const text = await readCapped(response, maxBytes, host);
        return { status: response.status, body: text };
      } catch (err) {
        if (err instanceof DownstreamTransportError) throw err;
        if (controller.signal.aborted) {
          throw new DownstreamTransportError(
            `Downstream ${host} did not answer within ${timeoutMs} ms.`,
            host,
            true,
          );
        }
        const code = codeOf(err);
        throw new DownstreamTransportError(
          `Downstream ${host} could not be reached${code ? ` (${code})` : ''}.`,
          host,
          false,
          code,
        );
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
