// The example handover rule is defined once (EXAMPLE_RULE) and every place that shows a rule to a
// reader shows that one: the generated services file, the shipped stage configurations and the docs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkRulePattern, matchRule } from '../../functions/domain/rules';
import { EXAMPLE_RULE } from '../../local/services-file';
import { BOT_SERVICE_ID, generateSimulatorServicesFile } from '../../local/stack';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Every `"match": "…"` a document shows, as the pattern it stands for. */
const shownPatterns = (text: string): string[] =>
  [...text.matchAll(/"match"\s*:\s*("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1]!) as string);

describe('the example rule', () => {
  it('runs on RE2 and hands over a user who asks for a human, an agent or a medewerker', () => {
    const rules = [EXAMPLE_RULE];

    expect(checkRulePattern(EXAMPLE_RULE.match)).toBeNull();
    expect(matchRule(rules, 'I want a human')).toEqual(EXAMPLE_RULE);
    expect(matchRule(rules, 'Can I talk to an AGENT?')).toEqual(EXAMPLE_RULE);
    expect(matchRule(rules, 'Mag ik een medewerker spreken?')).toEqual(EXAMPLE_RULE);
    expect(matchRule(rules, 'What are your opening hours?')).toBeUndefined();
  });

  it('is the rule of the generated services file', () => {
    const file = generateSimulatorServicesFile();

    const bot = file.services.find((s) => s.serviceIdentification === BOT_SERVICE_ID);

    expect(bot?.rules).toEqual([EXAMPLE_RULE]);
    expect(file.services.filter((s) => s.rules !== undefined)).toHaveLength(1);
  });

  it.each(['config/dev.json', 'config/prod.json'])('is the rule of %s', (path) => {
    const config = JSON.parse(read(path)) as { services: { rules?: unknown[] }[] };

    const rules = config.services.flatMap((s) => s.rules ?? []);

    expect(rules).toEqual([EXAMPLE_RULE]);
  });

  it.each(['README.md', 'local/README.md', 'docs/DESIGN.md'])(
    'is the only rule %s shows',
    (path) => {
      const shown = shownPatterns(read(path));

      expect(shown.length).toBeGreaterThan(0);
      expect([...new Set(shown)]).toEqual([EXAMPLE_RULE.match]);
    },
  );
});
