// One route matcher for the local servers and the tests' event factory: a table of `{ method,
// path }` templates such as `/users/{userId}/owner`, matched whole segment by whole segment (a
// parameter is one non-empty segment). A path that only another method serves is told apart from
// one that nothing serves, so a server can answer 405 with the methods allowed rather than 404.

export interface RouteTemplate {
  method: string;
  path: string;
}

export type RouteMatch<R> =
  | { route: R; params: Record<string, string> }
  | { route: null; allowed: string[] };

export interface Router<R> {
  /** A raw URL path (no query string): parameters percent-decoded, kept as sent if they cannot be. */
  match(method: string, rawPath: string): RouteMatch<R>;
  /** Segments the caller split (and decoded) itself; parameters are those segments as given. */
  matchSegments(method: string, segments: readonly string[]): RouteMatch<R>;
}

const PARAM = /^\{(\w+)\}$/;

const decode = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

/** A router over `routes`; the first match in table order wins. */
export const createRouter = <R extends RouteTemplate>(routes: readonly R[]): Router<R> => {
  const compiled = routes.map((route) => ({
    route,
    segments: route.path.split('/').map((s) => ({ literal: s, param: PARAM.exec(s)?.[1] })),
  }));

  const find = (
    method: string,
    segments: readonly string[],
    value: (segment: string) => string,
  ): RouteMatch<R> => {
    const allowed: string[] = [];
    for (const { route, segments: template } of compiled) {
      if (template.length !== segments.length) continue;
      const params: Record<string, string> = {};
      const fits = template.every((t, i) => {
        const given = segments[i]!;
        if (t.param === undefined) return given === t.literal;
        if (given.length === 0) return false;
        params[t.param] = given;
        return true;
      });
      if (!fits) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      for (const name of Object.keys(params)) params[name] = value(params[name]!);
      return { route, params };
    }
    return { route: null, allowed };
  };

  return {
    match: (method, rawPath) => find(method, rawPath.split('/'), decode),
    matchSegments: (method, segments) => find(method, segments, (s) => s),
  };
};
