// The one table of Parley Service API calls this service makes: method, path, whether PARLEY.md
// marks the path as assumed, and whether the call only reads (and so may be retried after it may
// have reached Parley). When Parley's live reference says otherwise, this is the one place to edit.
import { ValidationError } from '../domain/errors';
import { LONE_SURROGATE } from '../domain/user-id';

export type ParleyRoute = 'services' | 'getOwner' | 'putOwner' | 'messages' | 'agentUnset';
export type ParleyMethod = 'GET' | 'PUT' | 'POST';

export interface ParleyEndpoint {
  method: ParleyMethod;
  /** Relative to the versioned base URL; `{userId}` is replaced by the URL-encoded user id. */
  template: string;
  /** True when PARLEY.md marks the path as our best reading rather than documented. */
  assumed: boolean;
  /** A read has no effect at Parley: safe to retry after timeouts, resets, 429 and 5xx. */
  read: boolean;
}

export const parleyEndpoints: Readonly<Record<ParleyRoute, ParleyEndpoint>> = {
  services: { method: 'GET', template: 'services', assumed: true, read: true },
  getOwner: { method: 'GET', template: 'users/{userId}/owner', assumed: true, read: true },
  putOwner: { method: 'PUT', template: 'users/{userId}/owner', assumed: false, read: false },
  /** Body `{ "message": text }`. */
  messages: { method: 'POST', template: 'users/{userId}/messages', assumed: true, read: false },
  agentUnset: {
    method: 'PUT',
    template: 'users/{userId}/agent/unset',
    assumed: false,
    read: false,
  },
};

/** The relative path of a route for a user, e.g. `users/20/owner`. */
export function parleyPath(route: ParleyRoute, params: { userId?: string } = {}): string {
  const { template } = parleyEndpoints[route];
  if (!template.includes('{userId}')) return template;
  const userId = params.userId;
  // '.' and '..' survive encoding and a URL parser would resolve them as path segments.
  if (userId === undefined || userId === '' || userId === '.' || userId === '..') {
    throw new ValidationError(
      'A user id is required and must not be "." or "..".',
      'invalid_user_id',
    );
  }
  // A lone surrogate cannot be URL-encoded (encodeURIComponent throws a URIError).
  if (LONE_SURROGATE.test(userId)) {
    throw new ValidationError('A user id must be well-formed text.', 'invalid_user_id');
  }
  return template.replace('{userId}', encodeURIComponent(userId));
}

/** Joins a base URL that may carry a path (`http://host/serviceApi/v2.5/`) and a relative path. */
export function parleyUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
