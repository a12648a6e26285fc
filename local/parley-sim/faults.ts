// Fault and latency injection for the simulator: a small seeded generator, the rule schemas, the
// engine that decides, per call, which fault (if any) the call gets, and the one that draws its
// request and response latency.
import { z } from 'zod';
import type { Delay, FaultKind, FaultRoute, FaultRule, LatencyRule } from './types';

/** A 32-bit seeded generator (mulberry32 style): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rate = z.number().min(0).max(1).optional();

export const faultRuleSchema = z
  .object({
    route: z.enum(['services', 'getOwner', 'putOwner', 'messages', 'agentUnset', '*']),
    latencyMs: z
      .union([
        z.number().min(0),
        z.tuple([z.number().min(0), z.number().min(0)]).refine(([a, b]) => a <= b, {
          message: 'latency range must be [min, max]',
        }),
      ])
      .optional(),
    errorRate: rate,
    errorStatus: z.number().int().min(400).max(599).optional(),
    rate429: rate,
    retryAfterSeconds: z.number().int().min(0).optional(),
    timeoutRate: rate,
    dropRate: rate,
    applyThenFailRate: rate,
    applyThenFailMode: z.enum(['status', 'drop']).optional(),
    times: z.number().int().min(0).optional(),
  })
  .strict();

export const faultRulesSchema = z.array(faultRuleSchema);

/** Validates rules from outside (control API, CLI); the error names the field, not the value. */
export function parseFaultRules(input: unknown): FaultRule[] {
  const result = faultRulesSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new Error(`Invalid fault rules${where}: ${issue?.message ?? 'unknown problem'}.`);
  }
  return result.data as FaultRule[];
}

/** What a call gets: added latency and at most one fault. */
export interface FaultDecision {
  latencyMs: number;
  fault: FaultKind | null;
  /** For 'error' and 'applyThenFail' in status mode. */
  status: number;
  retryAfterSeconds: number;
  applyThenFailMode: 'status' | 'drop';
}

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

export class FaultEngine {
  private rules: ActiveRule[] = [];
  private readonly random: () => number;

  constructor(rules: FaultRule[], randomSeed: number) {
    this.random = seededRandom(randomSeed);
    this.set(rules);
  }

  /** Replaces the rules; `times` counts start afresh. The generator keeps its sequence. */
  set(rules: FaultRule[]): void {
    this.rules = rules.map((rule) => ({
      rule: { ...rule },
      remaining: rule.times ?? Number.POSITIVE_INFINITY,
    }));
  }

  rulesInEffect(): FaultRule[] {
    return this.rules.filter((r) => r.remaining > 0).map((r) => ({ ...r.rule }));
  }

  /** Decides one call of `route`. Every live matching rule counts the call against `times`. */
  decide(route: Exclude<FaultRoute, '*'>): FaultDecision {
    const decision: FaultDecision = {
      latencyMs: 0,
      fault: null,
      status: 500,
      retryAfterSeconds: 1,
      applyThenFailMode: 'status',
    };
    for (const active of this.rules) {
      const { rule } = active;
      if (rule.route !== '*' && rule.route !== route) continue;
      if (active.remaining <= 0) continue;
      active.remaining -= 1;

      decision.latencyMs += this.latency(rule.latencyMs);
      if (decision.fault !== null) continue;
      const fault = this.roll(rule);
      if (fault === null) continue;
      decision.fault = fault;
      decision.status = rule.errorStatus ?? 500;
      decision.retryAfterSeconds = rule.retryAfterSeconds ?? 1;
      decision.applyThenFailMode = rule.applyThenFailMode ?? 'status';
    }
    return decision;
  }

  private latency(spec: FaultRule['latencyMs']): number {
    if (spec === undefined) return 0;
    if (typeof spec === 'number') return spec;
    const [min, max] = spec;
    return min + Math.floor(this.random() * (max - min + 1));
  }

  private roll(rule: FaultRule): FaultKind | null {
    const chances: [FaultKind, number | undefined][] = [
      ['timeout', rule.timeoutRate],
      ['drop', rule.dropRate],
      ['429', rule.rate429],
      ['error', rule.errorRate],
      ['applyThenFail', rule.applyThenFailRate],
    ];
    for (const [kind, chance] of chances) {
      if (chance === undefined || chance <= 0) continue;
      if (this.random() < chance) return kind;
    }
    return null;
  }
}

// ------------------------------------------------------------------ latency

/** Longest delay one rule may add in either place: ten minutes. */
const MAX_DELAY_MS = 600_000;

const delaySchema = z
  .object({
    fixedMs: z.number().min(0).max(MAX_DELAY_MS).optional(),
    jitterMs: z.number().min(0).max(MAX_DELAY_MS).optional(),
  })
  .strict();

export const latencyRulesSchema = z.array(
  z
    .object({
      route: faultRuleSchema.shape.route,
      request: delaySchema.optional(),
      response: delaySchema.optional(),
    })
    .strict(),
);

/** Validates latency rules from outside; the error names the field, not the value. */
export function parseLatencyRules(input: unknown): LatencyRule[] {
  const result = latencyRulesSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new Error(`Invalid latency rules${where}: ${issue?.message ?? 'unknown problem'}.`);
  }
  return result.data as LatencyRule[];
}

/** The two delays of one call, in milliseconds. */
export interface LatencyDraw {
  requestMs: number;
  responseMs: number;
}

/**
 * Draws per-call latency from its own seeded generator, so that adding latency never changes which
 * calls the fault engine picks. Only a rule with jitter consumes the generator.
 */
export class LatencyEngine {
  private rules: LatencyRule[] = [];
  private readonly random: () => number;

  constructor(rules: LatencyRule[], seed: number) {
    this.random = seededRandom(seed);
    this.set(rules);
  }

  set(rules: LatencyRule[]): void {
    this.rules = rules.map((r) => structuredClone(r));
  }

  rulesInEffect(): LatencyRule[] {
    return this.rules.map((r) => structuredClone(r));
  }

  draw(route: Exclude<FaultRoute, '*'>): LatencyDraw {
    const out: LatencyDraw = { requestMs: 0, responseMs: 0 };
    for (const rule of this.rules) {
      if (rule.route !== '*' && rule.route !== route) continue;
      out.requestMs += this.delay(rule.request);
      out.responseMs += this.delay(rule.response);
    }
    return out;
  }

  private delay(spec: Delay | undefined): number {
    if (!spec) return 0;
    const jitter = spec.jitterMs ?? 0;
    const drawn = jitter > 0 ? Math.floor(this.random() * (jitter + 1)) : 0;
    return (spec.fixedMs ?? 0) + drawn;
  }
}
