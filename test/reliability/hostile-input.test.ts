// Suite 6, hostile input: 10,000 property-based cases over webhook bodies, handover bodies, query
// parameters, path parameters and headers (the quick version runs in `npm test`).
import { defineHostileInputSuite } from '../security/hostile-input.suite';

describe('hostile input', () => {
  defineHostileInputSuite(
    { webhooks: 3_000, handovers: 3_000, queries: 1_500, paths: 1_500, headers: 1_000 },
    'hostile-input',
  );
});
