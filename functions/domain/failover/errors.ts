// The failover's own error: the queue retries it like a failed forward (DLQ after its receives).

/**
 * A message held back from a Service whose circuit is open, when no failover could take its user
 * (the loop guard refused): it is not sent, and the queue retries it (the DLQ after the last).
 */
export class CircuitOpenError extends Error {
  constructor(readonly serviceId: string) {
    super(
      `The downstream of service ${serviceId} is unavailable (circuit open); no failover target.`,
    );
    this.name = 'CircuitOpenError';
  }
}
