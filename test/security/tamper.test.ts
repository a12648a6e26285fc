// Tamper evidence, the quick version for `npm test`.
import { defineTamperSuite } from './tamper.suite';

describe('tamper evidence (quick)', () => {
  defineTamperSuite(2, 4, 'tamper-quick');
});
