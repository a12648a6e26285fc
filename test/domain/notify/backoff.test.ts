// The notifier's retry schedule (notify/backoff.ts).
import {
  attemptsWithin,
  MAX_DELAY_SECONDS,
  NOTIFY_MAX_AGE_MS,
  NOTIFY_MAX_RECEIVE_COUNT,
  nextDelaySeconds,
  retryDelaySeconds,
} from '../../../functions/domain/notify/backoff';

const HOUR = 3600 * 1000;

describe('retryDelaySeconds', () => {
  it('waits about 2 s, 10 s, 30 s, then doubles, never past 12 h', () => {
    const waits = Array.from({ length: 15 }, (_, i) => retryDelaySeconds(i + 1));
    expect(waits).toEqual([
      2, 10, 30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720, 43200, 43200,
    ]);
    expect(retryDelaySeconds(1000)).toBe(MAX_DELAY_SECONDS);
  });

  it('takes another schedule (small waits in tests); one ending in 0 still grows past its end', () => {
    expect([1, 2, 3, 4].map((n) => retryDelaySeconds(n, [0, 1]))).toEqual([0, 1, 2, 4]);
    expect([1, 2, 3].map((n) => retryDelaySeconds(n, [0]))).toEqual([0, 2, 4]);
    expect(() => retryDelaySeconds(1, [])).toThrow(RangeError);
  });
});

describe('nextDelaySeconds', () => {
  const created = Date.parse('2026-03-10T14:00:00.000Z');

  it('cuts the last wait to end at 24 h, and gives none from then on', () => {
    expect(nextDelaySeconds(4, created, created + 42_000)).toBe(60);
    // 61,422 s in, the 14th wait (12 h) would end past 24 h: it ends at 24 h instead.
    expect(nextDelaySeconds(14, created, created + 61_422_000)).toBe(86_400 - 61_422);
    expect(nextDelaySeconds(2, created, created + NOTIFY_MAX_AGE_MS - 1)).toBe(1);
    expect(nextDelaySeconds(15, created, created + NOTIFY_MAX_AGE_MS)).toBeNull();
    expect(nextDelaySeconds(1, created, created + 25 * HOUR)).toBeNull();
  });

  it('makes 15 attempts in 24 h on the default schedule, and the queue allows 5 receives more', () => {
    expect(attemptsWithin()).toBe(15);
    expect(attemptsWithin([2, 10, 30], 60_000)).toBe(5); // 0, 2, 12, 42, 60 s
    expect(NOTIFY_MAX_RECEIVE_COUNT).toBe(20);
  });
});
