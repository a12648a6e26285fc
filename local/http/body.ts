// Reading a request body, for every local server (the gateway, the Parley simulator, the forward
// receiver) and the test programs: up to a limit, keeping at most `keep` bytes of it.
import type { IncomingMessage } from 'node:http';

export interface BodyLimits {
  /** A body of more bytes than this is too large. */
  limit: number;
  /** Bytes kept of a body within the limit; the rest is counted, not kept. @default limit */
  keep?: number;
  /**
   * At the limit: 'drain' reads on and discards the rest, so the answer follows the whole request
   * as a client expects; 'stop' settles at once and pauses the request, for a server that answers
   * and closes the connection rather than read 10 MB it will refuse. @default 'drain'
   */
  onLimit?: 'drain' | 'stop';
}

export interface RequestBody {
  /** The bytes kept; none when the body was too large. */
  bytes: Buffer;
  /** Bytes received, kept or not (up to where reading stopped). */
  size: number;
  tooLarge: boolean;
}

export const readBody = (req: IncomingMessage, limits: BodyLimits): Promise<RequestBody> =>
  new Promise((resolve, reject) => {
    const keep = Math.min(limits.keep ?? limits.limit, limits.limit);
    const chunks: Buffer[] = [];
    let kept = 0;
    let size = 0;
    let settled = false;
    const settle = (body: RequestBody) => {
      if (settled) return;
      settled = true;
      resolve(body);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.limit) {
        if (limits.onLimit === 'stop') {
          req.pause();
          settle({ bytes: Buffer.alloc(0), size, tooLarge: true });
        }
        return;
      }
      if (kept < keep) {
        const part = chunk.subarray(0, keep - kept);
        chunks.push(part);
        kept += part.length;
      }
    });
    req.on('end', () => {
      const tooLarge = size > limits.limit;
      settle({ bytes: tooLarge ? Buffer.alloc(0) : Buffer.concat(chunks), size, tooLarge });
    });
    req.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
  });
