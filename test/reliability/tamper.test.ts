// Suite 9, tamper evidence: edits, deletions and reorderings made directly in the store.
import { defineTamperSuite } from '../security/tamper.suite';

describe('tamper evidence', () => {
  defineTamperSuite(12, 6, 'tamper');
});
