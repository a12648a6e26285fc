// A small client of this service's HTTP API (DESIGN.md "HTTP API") for the CLI and the demo.
// Errors carry the API's `{ error: { code, message } }`; the token never appears in one (only
// whether one was sent, so that a 401 can say so).

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** Whether the request carried a bearer token. */
  tokenSent: boolean;
}

/** A non-2xx answer, or no answer. `status` 0: the service could not be reached. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body?: unknown,
    /** Whether the refused request carried a bearer token (unknown when unreachable). */
    readonly tokenSent?: boolean,
  ) {
    super(message);
  }
}

export interface ApiClient {
  readonly url: string;
  request(
    method: 'GET' | 'POST',
    path: string,
    options?: { body?: unknown; headers?: Record<string, string>; token?: string },
  ): Promise<ApiResponse>;
  /** A request whose 2xx JSON body is returned; anything else throws ApiError. */
  call<T = unknown>(
    method: 'GET' | 'POST',
    path: string,
    options?: { body?: unknown; headers?: Record<string, string>; token?: string },
  ): Promise<T>;
}

export interface ApiClientOptions {
  url: string;
  token?: string;
  fetch?: typeof fetch;
  /** One request. @default 30000 */
  timeoutMs?: number;
}

export const createApiClient = (options: ApiClientOptions): ApiClient => {
  const base = options.url.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  const request: ApiClient['request'] = async (method, path, req = {}) => {
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    const token = req.token ?? options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (req.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.body);
    }
    let res: Response;
    try {
      res = await doFetch(base + path, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const why =
        err instanceof Error && err.name === 'TimeoutError'
          ? 'did not answer in time'
          : 'cannot be reached';
      throw new ApiError(0, 'unreachable', `The service at ${base} ${why}.`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json, tokenSent: Boolean(token) };
  };

  return {
    url: base,
    request,
    async call<T>(
      method: 'GET' | 'POST',
      path: string,
      req?: { body?: unknown; headers?: Record<string, string>; token?: string },
    ): Promise<T> {
      const res = await request(method, path, req);
      if (res.status >= 200 && res.status < 300) return res.json as T;
      throw toApiError(res);
    },
  };
};

export const toApiError = (res: ApiResponse): ApiError => {
  const error = (res.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : `http_${res.status}`;
  const message =
    typeof error?.message === 'string' ? error.message : `The service answered HTTP ${res.status}.`;
  return new ApiError(res.status, code, message, res.json, res.tokenSent);
};
