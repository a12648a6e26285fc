// Server-rendered HTML from a tagged template that escapes every value by default. `html` returns
// Html, which a later `html` embeds as it is; anything else (text, numbers, user ids, metadata) is
// escaped for text and quoted attributes alike. `raw()` is the one way to embed trusted markup and
// is used only for fragments this code writes itself (inline SVG built from numbers).

/** Markup that is safe to embed: produced by `html` or marked with `raw`. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text made safe for an element's content or a quoted attribute value. */
export const escapeHtml = (value: string): string =>
  value.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!);

/** A value embedded in a template: Html as is, arrays item by item, absent values as nothing. */
export type Interpolation =
  | Html
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly Interpolation[];

const render = (value: Interpolation): string => {
  if (value instanceof Html) return value.text;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
};

/** The escaping template tag: html`<p>${userText}</p>`. */
export const html = (strings: TemplateStringsArray, ...values: Interpolation[]): Html => {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
};

/** Trusted markup, embedded without escaping. Never pass it anything a request or a store gave. */
export const raw = (markup: string): Html => new Html(markup);

/** A path segment of a console URL (user ids may hold any character but `/`). */
export const seg = (value: string): string => encodeURIComponent(value);
