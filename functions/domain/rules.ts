// A Service's handover rules: regular expressions from its configuration, tested against the text
// of a user's message. The first rule that matches wins. Only the start of the text is looked at
// (MAX_RULE_TEXT): a callback may carry up to 256 KB, and a pattern that backtracks badly should
// cost the same on every message, whatever its length.
import type { HandoverRule } from './types';

/** Rules see the first this many characters (UTF-16 code units) of a message's text. */
export const MAX_RULE_TEXT = 4096;

/** The first MAX_RULE_TEXT characters, without splitting a surrogate pair at the cut. */
const ruleText = (text: string): string => {
  if (text.length <= MAX_RULE_TEXT) return text;
  const cut = /[\ud800-\udbff]/.test(text[MAX_RULE_TEXT - 1]!) ? MAX_RULE_TEXT - 1 : MAX_RULE_TEXT;
  return text.slice(0, cut);
};

/** Compiled patterns by source; `null` remembers a pattern that does not compile. */
const compiled = new Map<string, RegExp | null>();
const MAX_CACHED = 500;

const compile = (source: string): RegExp | null => {
  if (compiled.has(source)) return compiled.get(source)!;
  let re: RegExp | null;
  try {
    // No `g` or `y` flag: `test` keeps no state between calls.
    re = new RegExp(source, 'iu');
  } catch {
    re = null;
  }
  if (compiled.size >= MAX_CACHED) compiled.clear();
  compiled.set(source, re);
  return re;
};

/**
 * The first rule whose pattern matches the first MAX_RULE_TEXT characters of `text`
 * (case-insensitive, unicode), or undefined. A pattern that does not compile is skipped, never
 * thrown (configuration validates them at load as well).
 */
export function matchRule(rules: readonly HandoverRule[], text: string): HandoverRule | undefined {
  const head = ruleText(text);
  for (const rule of rules) {
    const re = typeof rule.match === 'string' ? compile(rule.match) : null;
    if (re?.test(head)) return rule;
  }
  return undefined;
}
