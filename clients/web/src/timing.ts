// The state machine's time-keeping: the call budget, the back-off, and timers that reach far ahead.
import type { Clock } from "./seams.js";

const MINUTE = 60_000;
/** Longer waits are re-armed in steps (setTimeout's limit is about 24.8 days; clocks drift). */
const MAX_TIMER_MS = 3_600_000;
const BACKOFF_MAX_MS = 30_000;

/** At most `perMinute` calls in any 60 s, and never two closer than `gap` ms. */
export class CallBudget {
  private calls: number[] = [];

  constructor(
    private readonly perMinute: number,
    private readonly gap: number,
  ) {}

  /** The earliest time (epoch ms) the next call may go out, at `now`. */
  next(now: number): number {
    this.calls = this.calls.filter((t) => t > now - MINUTE);
    let at = now;
    const last = this.calls[this.calls.length - 1];
    if (last !== undefined) at = Math.max(at, last + this.gap);
    const oldest = this.calls[this.calls.length - this.perMinute];
    if (oldest !== undefined) at = Math.max(at, oldest + MINUTE);
    return at;
  }

  spend(now: number): void {
    this.calls.push(now);
  }
}

/** 1 s, 2 s, 4 s ... up to 30 s (never under `floor`) for consecutive retries for one reason. */
export class Backoff {
  private reason: string | null = null;
  private retries = 0;

  constructor(private readonly floor: number) {}

  next(reason: string): number {
    if (reason !== this.reason) {
      this.reason = reason;
      this.retries = 0;
    }
    const delay = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** this.retries);
    this.retries += 1;
    return Math.max(delay, this.floor);
  }

  /** A token came: the next refusal starts from 1 s again. */
  reset(): void {
    this.reason = null;
  }
}

/** One pending wake-up at a time: `at` replaces the previous one. */
export class Timer {
  private cancel: (() => void) | null = null;

  constructor(private readonly clock: Clock) {}

  at(when: number, run: () => void): void {
    this.clear();
    const wait = when - this.clock.now();
    this.cancel = this.clock.setTimer(
      () => {
        this.cancel = null;
        if (this.clock.now() < when) this.at(when, run);
        else run();
      },
      Math.min(Math.max(0, wait), MAX_TIMER_MS),
    );
  }

  clear(): void {
    this.cancel?.();
    this.cancel = null;
  }
}
