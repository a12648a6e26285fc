// The frame of every console page: head (stylesheet and scripts pinned by SRI), a skip link, the
// navigation, who is signed in with the logout form, and the main region. Also the small pieces
// pages share: times (UTC, with the browser's zone added by the script), empty states, answers.
import type { ConsoleResponse, Viewer } from './deps';
import { type Html, html, type Interpolation } from './html';
import { ASSETS, assetUrl } from './static/assets';

/** Exactly the issue's policy: our own scripts only, no plugins, never framed. */
export const CSP =
  "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  historyCacheSize: 0,
});

const NAV = [
  { href: '/console', label: 'Overview' },
  { href: '/console/search', label: 'Search' },
  { href: '/console/stuck', label: 'Stuck' },
] as const;

export const page = (options: {
  title: string;
  viewer: Viewer | null;
  /** The nav entry to mark as current. */
  current?: string;
  body: Interpolation;
}): Html => html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${options.title} · parley-handover console</title>
<link rel="stylesheet" href="${assetUrl(ASSETS.style)}" integrity="${ASSETS.style.integrity}">
<script src="${assetUrl(ASSETS.htmx)}" integrity="${ASSETS.htmx.integrity}" defer></script>
<script src="${assetUrl(ASSETS.script)}" integrity="${ASSETS.script.integrity}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header>
<strong>parley-handover console</strong>
${
  options.viewer
    ? html`<nav aria-label="Console"><ul>${NAV.map(
        (n) =>
          html`<li><a href="${n.href}"${options.current === n.href ? html` aria-current="page"` : ''}>${n.label}</a></li>`,
      )}</ul></nav>
<div class="who"><span>Signed in as <strong>${options.viewer.name}</strong> (${options.viewer.role})</span>
<form method="post" action="/console/logout" class="inline"><input type="hidden" name="csrf" value="${options.viewer.csrf}"><button type="submit" class="secondary">Log out</button></form></div>`
    : ''
}
</header>
<main id="main">
${options.body}
</main>
</body>
</html>
`;

export const htmlResponse = (
  status: number,
  body: Html,
  extra: { headers?: Record<string, string>; cookies?: string[] } = {},
): ConsoleResponse => ({
  status,
  headers: {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    ...SECURITY_HEADERS,
    ...extra.headers,
  },
  body: body.text,
  ...(extra.cookies ? { cookies: extra.cookies } : {}),
});

/** POST-redirect-GET: 303 to a console path. */
export const redirect = (location: string, cookies?: string[]): ConsoleResponse => ({
  status: 303,
  headers: { Location: location, 'Cache-Control': 'no-store', ...SECURITY_HEADERS },
  body: '',
  ...(cookies ? { cookies } : {}),
});

/** A page that only says what went wrong and what to do. */
export const problemPage = (
  status: number,
  title: string,
  message: string,
  viewer: Viewer | null,
  extra: { headers?: Record<string, string> } = {},
): ConsoleResponse =>
  htmlResponse(
    status,
    page({
      title,
      viewer,
      body: html`<h1>${title}</h1><p class="error" role="alert">${message}</p><p><a href="/console">Back to the overview</a></p>`,
    }),
    extra,
  );

/** An instant in UTC; the script adds the browser's zone beside it. */
export const time = (iso: string | null | undefined): Html =>
  iso
    ? html`<time class="t" datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d{3}Z$|Z$/, '')} UTC</time>`
    : html`<span class="muted">unknown</span>`;

/** An empty state: what is missing and what to do about it. */
export const empty = (what: string, todo: Interpolation): Html =>
  html`<div class="empty"><p><strong>${what}</strong></p><p>${todo}</p></div>`;

/** A number the console cannot show yet, marked as such: never a made-up figure. */
export const slot = (what: string, why: string): Html =>
  html`<div class="slot" data-slot="${what}"><strong>${what}</strong>: not shown yet. ${why}</div>`;
