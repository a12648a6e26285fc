// The Parley simulator's public surface: start one in-process, build its seed, read its log.
export { verifyAuthorization } from './auth';
export type { AuthResult } from './auth';
export {
  FaultEngine,
  LatencyEngine,
  parseFaultRules,
  parseLatencyRules,
  seededRandom,
} from './faults';
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
  Delay,
  FaultKind,
  FaultRoute,
  FaultRule,
  LatencyRule,
  ParleySimulator,
  SimLogEntry,
  SimSeed,
  SimService,
  SimulatorOptions,
} from './types';
