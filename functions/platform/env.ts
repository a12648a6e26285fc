// Reading a function's environment in AWS (runtime.ts depsFromEnvironment): a variable that is
// missing, not JSON or not of its schema fails the first invocation with a sentence naming it.
import type * as z from 'zod/mini';
import type { CallbackQueue } from '../domain/ports';

/** Thrown at the first invocation when the function's environment is wrong. */
export class EnvironmentError extends Error {}

/** A queue whose URL the function was not given: every send fails, naming the variable. */
export const unsetQueue = (variable: string): CallbackQueue => ({
  send: async () => {
    throw new EnvironmentError(`Environment variable ${variable} is not set.`);
  },
});

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new EnvironmentError(`Environment variable ${name} is not set.`);
  return value;
};

/** The variable's JSON, parsed with `schema`; the error names the variable, never its value. */
export const parseJsonEnv = <T>(name: string, schema: z.ZodMiniType<T>): T => {
  let raw: unknown;
  try {
    raw = JSON.parse(required(name));
  } catch (err) {
    if (err instanceof EnvironmentError) throw err;
    throw new EnvironmentError(`Environment variable ${name} is not valid JSON.`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EnvironmentError(
      `Environment variable ${name} is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}.`,
    );
  }
  return parsed.data;
};
