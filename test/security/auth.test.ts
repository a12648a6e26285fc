// Authentication, the quick version for `npm test`: the whole matrix, 200 random tokens.
import { defineAuthSuite } from './auth.suite';

describe('authentication (quick)', () => {
  defineAuthSuite(200, 'auth-quick');
});
