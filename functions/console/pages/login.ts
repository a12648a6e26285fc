// The login page: shown at /console (and any console page) without a session. The token goes in
// a form field, posted; it never appears in a URL, a log line or an answer.
import { type Html, html } from '../html';
import { page } from '../layout';

/** Where to go after logging in: a console path only (no scheme, no host, no `//`). */
export const safeNext = (next: string | undefined): string =>
  next && /^\/console(\/[^/\\][^\\]*)?$/.test(next) && !next.includes('//') ? next : '/console';

export const loginPage = (options: { next?: string; problem?: string } = {}): Html =>
  page({
    title: 'Log in',
    viewer: null,
    body: html`<h1>Log in</h1>
<p>The console is for auditors (read) and operators (read and act). Log in with your token from the auditors' secret; it is traded for a session of at most 8 hours (30 minutes idle).</p>
${options.problem ? html`<p class="error" role="alert" id="login-problem">${options.problem}</p>` : ''}
<form method="post" action="/console/login">
<input type="hidden" name="next" value="${safeNext(options.next)}">
<div><label for="token">Auditor or operator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required${options.problem ? html` aria-describedby="login-problem"` : ''}></div>
<p><button type="submit">Log in</button></p>
</form>`,
  });
