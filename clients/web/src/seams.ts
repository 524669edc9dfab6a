// The state machine's seams and options: where the appointment and the join come from, and the clock.
import type { JoinAnswer } from "./contract.js";
import type { VisitState, VisitView } from "./states.js";

export interface VisitSource {
  /** Listen to the appointment: `onVisit(null)` when it does not exist; `onError` ends the listener. */
  listen(onVisit: (visit: VisitView | null) => void, onError: (error: unknown) => void): () => void;
  /** `get_join_token` for the appointment; rejects with a KitError (or anything `refusalOf` reads). */
  join(): Promise<JoinAnswer>;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Run `run` after `ms`; returns a function that cancels it. */
  setTimer(run: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(run, ms) {
    const handle = setTimeout(run, ms);
    return () => clearTimeout(handle);
  },
};

export interface WatchOptions {
  clock?: Clock;
  /** At most this many join calls in any 60 s (default 10: half the backend's default
   * `VIDEO_JOIN_RATE_PER_MIN` of 20, which every callable of the account shares). */
  callsPerMinute?: number;
  /** Never two calls closer than this (default 1000 ms). */
  minCallGapMs?: number;
  /** Where the appointment cannot be listened to (a guest's account may not read it), how often a
   * waiting state calls again (default 15000 ms). */
  pollMs?: number;
  /** Ask for a new token this long before `expiresAt` (default 60 s; at most half the token's life). */
  refreshBeforeS?: number;
}

export interface VisitWatch {
  /** Stop listening and calling; the last state becomes `stopped`. */
  stop(): void;
  readonly state: VisitState;
}

export const APPOINTMENT_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Whether `id` has the backend's appointment id format (docs/api.md, "Appointment ids"). */
export function validAppointmentId(id: unknown): id is string {
  return typeof id === "string" && APPOINTMENT_ID.test(id) && !(id.startsWith("__") && id.endsWith("__"));
}
