// Suite 7, authentication: every protected route against every bad credential, 2,000 random tokens.
import { defineAuthSuite } from '../security/auth.suite';

describe('authentication', () => {
  defineAuthSuite(2_000, 'auth');
});
