// What the console keeps: its sessions and the failed-login counters, items of the state table
// (functions/adapters/console-store.ts; tests use the same adapter on dynalite, or a small fake).
import type { ConsoleSession } from './session';

/** A source's recent failed logins (epoch ms) and the item's version (0: none stored). */
export interface LoginFailures {
  failures: number[];
  version: number;
}

export interface ConsoleStore {
  /** The session of this key (`sha256(sessionId)`), or null when none is stored. */
  getSession(idHash: string): Promise<ConsoleSession | null>;
  /**
   * Writes it if the stored version is `expectedVersion` (0: none stored yet); false otherwise.
   * The item carries `expiresAt` (TTL) at the session's own end.
   */
  putSession(session: ConsoleSession, expectedVersion: number): Promise<boolean>;
  getLoginFailures(sourceKey: string, nowMs: number): Promise<LoginFailures>;
  /** Writes the failures if the stored version is `expectedVersion`; false otherwise. */
  putLoginFailures(
    sourceKey: string,
    failures: number[],
    expectedVersion: number,
    nowMs: number,
  ): Promise<boolean>;
}
