// What the simulator's two HTTP surfaces (the Service API and the control API) share: a body read
// as JSON, a JSON answer carrying Parley's API version header, and decoded path segments.
import type { ServerResponse } from 'node:http';
import { sendJson } from '../http/json';

/** A request body of at most this many bytes is read; a larger one is answered 413. */
export const MAX_BODY_BYTES = 1024 * 1024;

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An empty body is null; text that is not JSON is not ok. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; value: null } {
  if (text.trim().length === 0) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, value: null };
  }
}

/** Sends a JSON answer with the `X-Parley-API-Version` header, as Parley does. */
export function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  apiVersion: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, body, { ...headers, 'x-parley-api-version': apiVersion });
}

/** Decoded, non-empty path segments; null when a segment cannot be decoded. */
export function splitPath(path: string): string[] | null {
  try {
    return path
      .split('/')
      .filter((s) => s.length > 0)
      .map((s) => decodeURIComponent(s));
  } catch {
    return null;
  }
}
