// Answers of the local servers: bytes with their length, JSON, and the error shape of DESIGN.md.
import type { ServerResponse } from 'node:http';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Sends `payload` with its length; nothing when an answer already left or the socket is gone. */
export const sendBytes = (
  res: ServerResponse,
  status: number,
  payload: Buffer | string,
  headers: Record<string, string> = {},
): void => {
  if (res.headersSent || res.destroyed) return;
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  res.writeHead(status, { ...headers, 'content-length': String(bytes.length) });
  res.end(bytes);
};

/** Sends `body` as JSON (UTF-8); `headers` are added (a content type among them is replaced). */
export const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void =>
  sendBytes(res, status, JSON.stringify(body), { ...headers, 'content-type': JSON_CONTENT_TYPE });

/** `{ error: { code, message } }`: a snake_case code and one human sentence. */
export const errorBody = (code: string, message: string) => ({ error: { code, message } });
