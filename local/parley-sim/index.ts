// The Parley simulator's public surface: start one in-process, build its seed, read its log.
export { verifyAuthorization } from './auth';
export type { AuthResult } from './auth';
export { FaultEngine, parseFaultRules, seededRandom } from './faults';
export {
  AGENT_SERVICE_ID,
  BOT_SERVICE_ID,
  SIM_ACCOUNT_ID,
  parseSeed,
  seedFixture,
} from './seed';
export { startParleySimulator } from './server';
export type {
  CallbackResult,
  FaultKind,
  FaultRoute,
  FaultRule,
  ParleySimulator,
  SimLogEntry,
  SimSeed,
  SimService,
  SimulatorOptions,
} from './types';
