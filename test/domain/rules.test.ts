// A Service's handover rules on the linear-time engine: patterns that backtrack exponentially in a
// backtracking engine finish on the longest text a rule sees, the case-insensitive and unicode
// matching stays, and patterns the engine cannot run are named at configuration load.
import { checkRulePattern, MAX_RULE_TEXT, matchRule } from '../../functions/domain/rules';
import type { HandoverRule } from '../../functions/domain/types';
import { AGENT } from '../support/fakes';

const rule = (match: string, reason = 'r'): HandoverRule => ({ match, newOwner: 'Agent', reason });

describe('matchRule', () => {
  it('finishes a pattern that backtracks exponentially elsewhere on the longest text a rule sees', () => {
    // A backtracking engine needs about 2^n steps here: seconds at 27 characters, days at 4,096.
    const catastrophic = [rule('^(\\w+\\s?)+$', 'words_only')];
    const noMatch = `${'a'.repeat(MAX_RULE_TEXT - 1)}!`;
    const match = `${'ab '.repeat((MAX_RULE_TEXT - 4) / 3)}end`;

    expect([noMatch.length, match.length]).toEqual([MAX_RULE_TEXT, MAX_RULE_TEXT - 1]);
    expect(matchRule(catastrophic, noMatch)).toBeUndefined();
    expect(matchRule(catastrophic, match)?.reason).toBe('words_only');
  }, 20_000);

  it('matches case-insensitively, unicode letters included', () => {
    const rules = [rule('\\b(human|medewerker)\\b', 'human'), rule('ÉLÈVE', 'accent')];

    expect([
      matchRule(rules, 'I want a HUMAN now')?.reason,
      matchRule(rules, 'Een Medewerker graag')?.reason,
      matchRule(rules, 'un élève')?.reason,
      matchRule(rules, 'humanity')?.reason,
    ]).toEqual(['human', 'human', 'accent', undefined]);
    expect(matchRule([rule('σ')], 'Σ')?.reason).toBe('r');
    expect(matchRule([rule('^.$')], '💬')?.reason).toBe('r');
  });

  it('skips a pattern the engine cannot run and tries the next rule', () => {
    const rules = [rule('(a)\\1', 'backreference'), rule('(?=a)', 'lookahead'), rule('a', 'plain')];

    expect(matchRule(rules, 'aa')?.reason).toBe('plain');
  });
});

describe('checkRulePattern', () => {
  it('accepts the patterns of the shipped configurations and RE2 syntax', () => {
    expect(
      [
        '\\b(human|agent|medewerker)\\b',
        '^(\\w+\\s?)+$',
        '\\p{L}+',
        '(?P<word>x)',
        '\\x{e9}',
        '[\\s\\S]',
      ].map(checkRulePattern),
    ).toEqual([null, null, null, null, null, null]);
  });

  it.each([
    ['a backreference', '(a)\\1', 'invalid escape sequence: `\\1`'],
    ['a lookahead', 'a(?=b)', 'invalid or unsupported Perl syntax: `(?=`'],
    ['a lookbehind', '(?<!a)b', 'invalid named capture: `(?<!a)b`'],
    ['a JavaScript \\u escape', '\\u00e9', 'invalid escape sequence: `\\u`'],
    ['an unclosed group', 'a(', 'missing closing ): `a(`'],
  ])('names what the engine refuses in %s', (_case, pattern, problem) => {
    expect(checkRulePattern(pattern)).toBe(problem);
  });
});

describe('matchRule: the text it looks at', () => {
  const rules = [{ match: '\\bhuman\\b', newOwner: AGENT, reason: 'user_requested_human' }];

  it('looks at the first 4,096 characters of the text only', () => {
    const within = `${'x'.repeat(4090)} human`;
    const beyond = `${'x'.repeat(4096)} human`;

    expect([matchRule(rules, within)?.reason, matchRule(rules, beyond)]).toEqual([
      'user_requested_human',
      undefined,
    ]);
  });

  it('does not split a surrogate pair at the cut', () => {
    const emoji = [{ match: '💬$', newOwner: AGENT, reason: 'emoji_at_end' }];
    const text = `${'x'.repeat(4095)}💬`; // the pair straddles the cut: it is left out whole

    expect([matchRule(emoji, text), MAX_RULE_TEXT]).toEqual([undefined, 4096]);
    expect(matchRule([{ match: 'x$', newOwner: AGENT, reason: 'x' }], text)?.reason).toEqual('x');
  });
});
