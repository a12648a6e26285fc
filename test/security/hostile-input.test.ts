// Hostile input, the quick version that runs in `npm test` (about 1,000 cases); the full one
// (10,000) runs in `npm run test:reliability`.
import { defineHostileInputSuite } from './hostile-input.suite';

describe('hostile input (quick)', () => {
  defineHostileInputSuite(
    { webhooks: 300, handovers: 300, queries: 150, paths: 150, headers: 100 },
    'hostile-input-quick',
  );
});
