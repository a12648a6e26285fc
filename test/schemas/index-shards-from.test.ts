// `indexShardsFrom` (DESIGN.md "Changing N"): the count a stage lowers indexShards from, for the
// transition only. Read through the synth's own loader, so the sentence an operator sees is checked.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, parseStageConfig, REPO_ROOT } from '../../lib/config';
import { readShardsOf } from '../../functions/domain/shards';

const dev = () => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'config', 'dev.json'), 'utf8'));
const given = (fields: Record<string, unknown>) =>
  parseStageConfig({ ...dev(), ...fields }, 'x.json');
const refusal = (fields: Record<string, unknown>): string => {
  try {
    given(fields);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'accepted';
};

describe('indexShardsFrom', () => {
  it('is absent by default, and readers then fan out over indexShards', () => {
    const config = given({ indexShards: 4 }).config;

    expect([config.indexShardsFrom, readShardsOf(config)]).toEqual([undefined, 4]);
  });

  it('takes a count above indexShards, up to 64: writers use indexShards, readers the larger', () => {
    const lowering = given({ indexShards: 2, indexShardsFrom: 8 });
    const widest = given({ indexShards: 1, indexShardsFrom: 64 });

    expect([lowering.config.indexShards, lowering.config.indexShardsFrom]).toEqual([2, 8]);
    expect([readShardsOf(lowering.config), readShardsOf(widest.config)]).toEqual([8, 64]);
    expect(JSON.parse(lowering.configJson).indexShardsFrom).toBe(8);
  });

  it('refuses a count that is not a whole number from 1 to 64, naming the field', () => {
    const messages = [0, 65, 2.5, '8'].map((indexShardsFrom) =>
      refusal({ indexShards: 2, indexShardsFrom }),
    );

    for (const message of messages) {
      expect(message).toMatch(
        /^Stage configuration x\.json is invalid: indexShardsFrom: must be a whole number from 1 to 64\.$/,
      );
    }
  });

  it('refuses a count not above indexShards, saying what the field is for', () => {
    const messages = [
      refusal({ indexShards: 8, indexShardsFrom: 8 }),
      refusal({ indexShards: 8, indexShardsFrom: 4 }),
      refusal({ indexShardsFrom: 8 }),
    ];

    expect(messages).toEqual([
      'Stage configuration x.json is invalid: indexShardsFrom: must be above indexShards (8 is not above 8): it names the count being lowered from, while the index keys are rewritten (parley-handover reindex); remove it once that is done.',
      'Stage configuration x.json is invalid: indexShardsFrom: must be above indexShards (4 is not above 8): it names the count being lowered from, while the index keys are rewritten (parley-handover reindex); remove it once that is done.',
      'Stage configuration x.json is invalid: indexShardsFrom: must be above indexShards (8 is not above 8): it names the count being lowered from, while the index keys are rewritten (parley-handover reindex); remove it once that is done.',
    ]);
  });
});
