// A Service's handover rules: patterns from its configuration, tested against the text of a
// user's message. The first rule that matches wins. Patterns run on RE2 (re2js, pure JS), whose
// matching time is linear in the text: a pattern that a backtracking engine would take days on
// (`^(\w+\s?)+$`) costs the same as any other. RE2 has no backreferences and no lookaround;
// configuration load refuses such patterns (checkRulePattern). Only the start of the text is
// looked at (MAX_RULE_TEXT): a callback may carry up to 256 KB.
import { RE2JS } from 're2js';
import type { HandoverRule } from './types';

/** Rules see the first this many characters (UTF-16 code units) of a message's text. */
export const MAX_RULE_TEXT = 4096;

/** The first MAX_RULE_TEXT characters, without splitting a surrogate pair at the cut. */
const ruleText = (text: string): string => {
  if (text.length <= MAX_RULE_TEXT) return text;
  const cut = /[\ud800-\udbff]/.test(text[MAX_RULE_TEXT - 1]!) ? MAX_RULE_TEXT - 1 : MAX_RULE_TEXT;
  return text.slice(0, cut);
};

/** Case-insensitive (Unicode simple case folding); RE2 matches code points, not code units. */
const FLAGS = RE2JS.CASE_INSENSITIVE;

/** Compiled patterns by source; `null` remembers a pattern that does not compile. */
const compiled = new Map<string, RE2JS | null>();
const MAX_CACHED = 500;

const compile = (source: string): RE2JS | null => {
  if (compiled.has(source)) return compiled.get(source)!;
  let re: RE2JS | null;
  try {
    re = RE2JS.compile(source, FLAGS);
  } catch {
    re = null;
  }
  if (compiled.size >= MAX_CACHED) compiled.clear();
  compiled.set(source, re);
  return re;
};

/**
 * Why RE2 cannot run `source` (its parser's words, e.g. "invalid escape sequence: `\1`"), or null
 * when it can. The reason is taken from a compile without flags, which quotes the pattern as
 * written.
 */
export function checkRulePattern(source: string): string | null {
  if (compile(source) !== null) return null;
  try {
    RE2JS.compile(source);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return message.replace(/^error parsing regexp: /, '');
  }
  return 'the pattern cannot be compiled';
}

/**
 * The first rule whose pattern matches the first MAX_RULE_TEXT characters of `text`
 * (case-insensitive, unicode), or undefined. A pattern that does not compile is skipped, never
 * thrown (configuration refuses them at load as well).
 */
export function matchRule(rules: readonly HandoverRule[], text: string): HandoverRule | undefined {
  const head = ruleText(text);
  for (const rule of rules) {
    const re = typeof rule.match === 'string' ? compile(rule.match) : null;
    if (re?.test(head)) return rule;
  }
  return undefined;
}
