// Words printed for a reader to paste into a POSIX shell (the banners' commands).

/** `value` as one shell word: bare when nothing in it is special, else single-quoted. */
export const shellWord = (value: string): string =>
  /^[A-Za-z0-9._~:/@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
