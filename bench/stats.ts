// Small, pure statistics for the bench: percentiles by linear interpolation between closest ranks
// (the method of numpy's default and of most load tools), medians, and a latency summary.

/** The p-th percentile (0..100) of `values`, interpolating between the two closest ranks. */
export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError('p must be within 0..100');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.ceil(rank);
  const low = sorted[lower]!;
  const high = sorted[upper]!;
  return low + (high - low) * (rank - lower);
};

export const median = (values: readonly number[]): number => percentile(values, 50);

export const mean = (values: readonly number[]): number =>
  values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;

export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export const summarize = (values: readonly number[]): LatencySummary => ({
  n: values.length,
  p50: percentile(values, 50),
  p90: percentile(values, 90),
  p99: percentile(values, 99),
  max: values.length ? Math.max(...values) : Number.NaN,
  mean: mean(values),
});

/** subject / floor, or NaN when the floor is not a positive number. */
export const ratio = (subject: number, floor: number): number =>
  floor > 0 && Number.isFinite(floor) ? subject / floor : Number.NaN;

/** A fixed number of decimals, without trailing noise ("1.23", "12.3"). */
export const fmt = (value: number, decimals = 2): string =>
  Number.isFinite(value) ? value.toFixed(decimals) : 'n/a';
