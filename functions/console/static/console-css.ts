// The console's stylesheet, served as /console/static/console.{hash}.css (CSP: no inline style).
// Colours keep at least 4.5:1 against their background (WCAG AA); focus is always visible.
export const CONSOLE_CSS = `
:root { color-scheme: light; --fg: #1b1b1b; --muted: #4a4a4a; --line: #c9c9c9; --link: #0b57a4;
  --ok: #0b6b2f; --bad: #a3161b; --warn: #7a4a00; --bg-soft: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: #fff; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible
  { outline: 3px solid #1a73e8; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; }
.skip:focus { left: .5rem; }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between;
  padding: .75rem 1.25rem; border-bottom: 1px solid var(--line); background: var(--bg-soft); }
header nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; }
header nav a[aria-current="page"] { font-weight: 700; }
.who { display: flex; gap: .75rem; align-items: center; color: var(--muted); }
main { padding: 1rem 1.25rem 3rem; max-width: 72rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-soft); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .75rem; }
.card .n { font-size: 1.6rem; font-weight: 700; display: block; }
.muted, .local, .note { color: var(--muted); }
.slot { border: 1px dashed var(--muted); border-radius: 6px; padding: .5rem .75rem; color: var(--muted); }
.badge { display: inline-block; padding: .1rem .6rem; border-radius: 999px; font-weight: 700; color: #fff; }
.badge.ok { background: var(--ok); }
.badge.bad { background: var(--bad); }
.badge.pending { background: var(--warn); }
.flash { border-left: 4px solid var(--ok); background: #eef7f0; padding: .5rem .75rem; }
.error { border-left: 4px solid var(--bad); background: #fbeeee; padding: .5rem .75rem; }
.empty { border: 1px dashed var(--line); padding: .75rem; border-radius: 6px; }
form.inline { display: inline-flex; gap: .5rem; align-items: end; flex-wrap: wrap; }
form.filters { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .5rem .75rem; align-items: end; }
label { display: block; font-weight: 600; }
input, select, button { font: inherit; padding: .3rem .45rem; border: 1px solid #767676; border-radius: 4px; }
button { background: var(--link); color: #fff; border-color: var(--link); cursor: pointer; }
button.secondary { background: #fff; color: var(--link); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg-soft); padding: .5rem; margin: .25rem 0; }
.chart svg { max-width: 100%; height: auto; }
.legend { display: flex; flex-wrap: wrap; gap: .75rem; list-style: none; padding: 0; }
.legend .swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .3rem; vertical-align: -2px; }
.actions form { margin: .25rem 0; }
.htmx-indicator { display: none; }
.htmx-request .htmx-indicator, .htmx-request.htmx-indicator { display: inline; }
`;
