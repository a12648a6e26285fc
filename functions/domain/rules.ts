// A Service's handover rules: regular expressions from its configuration, tested against the text
// of a user's message. The first rule that matches wins.
import type { HandoverRule } from './types';

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
 * The first rule whose pattern matches `text` (case-insensitive, unicode), or undefined. A pattern
 * that does not compile is skipped, never thrown (configuration validates them at load as well).
 */
export function matchRule(rules: readonly HandoverRule[], text: string): HandoverRule | undefined {
  for (const rule of rules) {
    const re = typeof rule.match === 'string' ? compile(rule.match) : null;
    if (re?.test(text)) return rule;
  }
  return undefined;
}
