// Parley's response envelope (docs/PARLEY.md): data, notifications (the first one's message is
// the answer's code, e.g. 'api_key_not_valid'), status, and metadata with the call's duration.
import { performance } from 'node:perf_hooks';
import { isRecord } from './wire';

export interface Envelope {
  data?: unknown;
  notifications: { type: 'success' | 'warning' | 'error'; message: string }[];
  status: 'SUCCESS' | 'ERROR';
  metadata: { values?: Record<string, unknown>; method: string; duration: number };
  media?: Record<string, unknown>;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

export const envelopeOk = (
  method: string,
  started: number,
  data: unknown,
  message: string | null,
  extra: { values?: Record<string, unknown>; media?: boolean } = {},
): Envelope => ({
  data,
  notifications: message ? [{ type: 'success', message }] : [],
  status: 'SUCCESS',
  metadata: {
    ...(extra.values ? { values: extra.values } : {}),
    method: method.toLowerCase(),
    duration: elapsed(started),
  },
  ...(extra.media ? { media: {} } : {}),
});

export const envelopeError = (method: string, started: number, message: string): Envelope => ({
  notifications: [{ type: 'error', message }],
  status: 'ERROR',
  metadata: { method: method.toLowerCase(), duration: elapsed(started) },
});

export function firstNotification(body: unknown): string | null {
  if (!isRecord(body) || !Array.isArray(body.notifications)) return null;
  const first = body.notifications[0] as unknown;
  return isRecord(first) && typeof first.message === 'string' ? first.message : null;
}
