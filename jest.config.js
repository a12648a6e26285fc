/** @type {import('jest').Config} */
const reliability = process.env.JEST_SUITE === 'reliability';

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: reliability ? ['**/test/reliability/**/*.test.ts'] : ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: reliability
    ? ['/node_modules/']
    : ['/node_modules/', '/test/reliability/'],
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  setupFiles: ['<rootDir>/test/support/env.js'],
  testTimeout: 30000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
