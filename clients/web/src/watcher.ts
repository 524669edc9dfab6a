// The join as a state machine over two seams: a source (the appointment's listener and the join call)
// and a clock. `watchVisit` (visit.ts) binds them to Firestore and the callable; tests bind fakes.
import type { JoinAnswer } from "./contract.js";
import { KitError, refusalOf, type Refusal } from "./errors.js";
import type { FinalState, VisitState, VisitView } from "./states.js";

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

const MINUTE = 60_000;
/** Longer timers are re-armed in steps (setTimeout's limit is about 24.8 days; clocks drift). */
const MAX_TIMER_MS = 3_600_000;
const BACKOFF_MAX_MS = 30_000;

type Waking = (visit: VisitView, before: VisitView | null) => boolean;

/** What each waiting state waits for on the appointment: when it turns true, the kit calls again. */
const WAKES: Partial<Record<VisitState["kind"], Waking>> = {
  connecting: () => true,
  not_confirmed: () => true,
  joining: () => false,
  waiting_for_doctor: (visit) => visit.doctorJoined,
  waiting_for_admission: (visit) => visit.admitted || visit.denied,
  admission_denied: (visit) => visit.admitted && !visit.denied,
  // The window moves with the visit's times; the room comes with a provider's room id.
  too_early: (visit, before) => visit.startTime !== before?.startTime || visit.endTime !== before?.endTime,
  room_not_ready: (visit, before) => visit.providerRoomId !== before?.providerRoomId || before?.roomName !== visit.roomName,
};

const PLAIN_FINAL: Record<string, FinalState["kind"]> = {
  unauthenticated: "unauthenticated",
  "invalid-argument": "invalid_argument",
  "not-found": "not_found",
  internal: "internal",
};

export const APPOINTMENT_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Whether `id` has the backend's appointment id format (docs/api.md, "Appointment ids"). */
export function validAppointmentId(id: unknown): id is string {
  return typeof id === "string" && APPOINTMENT_ID.test(id) && !(id.startsWith("__") && id.endsWith("__"));
}

class Watcher implements VisitWatch {
  state: VisitState = { kind: "connecting", visit: null };
  private visit: VisitView | null = null;
  private seen = false;
  private listening = true;
  private done = false;
  private inFlight = false;
  private calls: number[] = [];
  private retries = 0;
  private retrying: string | null = null;
  private cancelTimer: (() => void) | null = null;
  private unlisten: (() => void) | null = null;
  private readonly clock: Clock;
  private readonly perMinute: number;
  private readonly gap: number;
  private readonly poll: number;
  private readonly refreshBefore: number;

  constructor(
    private readonly source: VisitSource,
    private readonly onState: (state: VisitState) => void,
    options: WatchOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.perMinute = Math.max(1, options.callsPerMinute ?? 10);
    this.gap = Math.max(0, options.minCallGapMs ?? 1000);
    this.poll = Math.max(this.gap, options.pollMs ?? 15_000);
    this.refreshBefore = Math.max(0, options.refreshBeforeS ?? 60) * 1000;
  }

  start(): void {
    this.onState(this.state);
    const unlisten = this.source.listen(
      (visit) => this.onVisit(visit),
      () => this.onListenError(),
    );
    // The listener may have ended everything already, before it handed back its unsubscribe.
    if (this.done) unlisten();
    else this.unlisten = unlisten;
  }

  stop(): void {
    if (!this.done) this.finish({ kind: "stopped", visit: this.visit });
  }

  private set(state: VisitState): void {
    this.state = state;
    this.onState(state);
  }

  private finish(state: FinalState): void {
    this.done = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.unlisten?.();
    this.unlisten = null;
    this.set(state);
  }

  private onVisit(visit: VisitView | null): void {
    if (this.done) return;
    if (visit === null) {
      this.finish(this.seen ? { kind: "ended", status: "deleted", visit: this.visit } : { kind: "not_found", visit: null });
      return;
    }
    const before = this.visit;
    this.visit = visit;
    this.seen = true;
    if (visit.type !== "video") return this.finish({ kind: "not_video", visit });
    if (visit.status === "cancelled" || visit.status === "completed") {
      return this.finish({ kind: "ended", status: visit.status, visit });
    }
    if (visit.status !== "confirmed") {
      this.clearTimer();
      return this.set({ kind: "not_confirmed", visit });
    }
    if (visit.roomName === null) {
      this.clearTimer();
      return this.set({ kind: "room_not_ready", retryAt: null, visit });
    }
    if (this.state.kind === "room_not_ready" && this.state.retryAt === null) return this.ask();
    if (this.satisfied(visit, before)) return this.ask();
    this.set({ ...this.state, visit } as VisitState);
  }

  /** Whether the current state's wait is over on this read of the appointment. */
  private satisfied(visit: VisitView, before: VisitView | null): boolean {
    const state = this.state;
    if (state.kind === "joined") return state.join.roomName !== visit.roomName;
    const wakes = WAKES[state.kind];
    return wakes !== undefined && wakes(visit, before);
  }

  private onListenError(): void {
    if (this.done) return;
    // Not allowed to read it (a guest, or no part in it at all): the call decides, and waits poll.
    this.listening = false;
    this.unlisten = null;
    this.ask();
  }

  /** Call for a token as soon as the budget allows (a call in flight: its answer decides first). */
  private ask(): void {
    if (this.done || this.inFlight) return;
    const at = this.nextCallAt();
    if (at > this.clock.now()) this.schedule(at, () => this.callNow());
    else this.callNow();
  }

  private nextCallAt(): number {
    const now = this.clock.now();
    this.calls = this.calls.filter((t) => t > now - MINUTE);
    let at = now;
    const last = this.calls[this.calls.length - 1];
    if (last !== undefined) at = Math.max(at, last + this.gap);
    const oldest = this.calls[this.calls.length - this.perMinute];
    if (oldest !== undefined) at = Math.max(at, oldest + MINUTE);
    return at;
  }

  private callNow(): void {
    if (this.done) return;
    this.clearTimer();
    this.inFlight = true;
    this.calls.push(this.clock.now());
    if (this.state.kind !== "joined") this.set({ kind: "joining", visit: this.visit });
    this.source.join().then(
      (answer) => this.settle(() => this.onAnswer(answer)),
      (error: unknown) => this.settle(() => this.onRefusal(error instanceof KitError ? error.refusal : refusalOf(error))),
    );
  }

  private settle(then: () => void): void {
    this.inFlight = false;
    if (!this.done) then();
  }

  private onAnswer(join: JoinAnswer): void {
    const visit = this.visit;
    // The appointment moved on while the call ran (the listener saw it): its state stands.
    if (visit !== null && visit.status !== "confirmed") return this.set({ kind: "not_confirmed", visit });
    this.retrying = null;
    const now = this.clock.now();
    const expires = join.expiresAt * 1000;
    const margin = Math.min(this.refreshBefore, Math.max(0, (expires - now) / 2));
    const refreshAt = Math.max(now, expires - margin);
    this.set({ kind: "joined", join, refreshAt, visit });
    if (visit !== null && visit.roomName !== null && visit.roomName !== join.roomName) return this.ask();
    this.schedule(refreshAt, () => this.ask());
  }

  private onRefusal(refusal: Refusal): void {
    const visit = this.visit;
    const now = this.clock.now();
    const held = this.state.kind === "joined" && this.state.join.expiresAt * 1000 > now ? this.state : null;
    const plain = PLAIN_FINAL[refusal.code];
    if (plain !== undefined) return this.finish({ kind: plain, visit } as FinalState);
    switch (refusal.code) {
      case "resource-exhausted": {
        const retryAt = now + refusal.retryAfter * 1000;
        if (held === null) this.set({ kind: "rate_limited", retryAfter: refusal.retryAfter, retryAt, visit });
        return this.schedule(retryAt, () => this.ask());
      }
      case "unavailable":
      case "aborted": {
        const retryAt = now + this.backoff(refusal.reason);
        if (held === null) this.set({ kind: refusal.reason, retryAt, visit });
        return this.schedule(retryAt, () => this.ask());
      }
      case "failed-precondition":
        return this.onPrecondition(refusal, now);
      default:
        return this.finish({ kind: "failed", refusal, visit });
    }
  }

  private onPrecondition(refusal: Refusal & { code: "failed-precondition" }, now: number): void {
    const visit = this.visit;
    switch (refusal.reason) {
      case "not_video":
      case "bad_schedule":
        return this.finish({ kind: refusal.reason, visit });
      case "too_late":
        return this.finish({ kind: "too_late", closesAt: refusal.closesAt, visit });
      case "room_not_ready": {
        const retryAt = now + this.backoff(refusal.reason);
        this.set({ kind: "room_not_ready", retryAt, visit });
        return this.schedule(retryAt, () => this.ask());
      }
      case "too_early": {
        this.set({ kind: "too_early", opensAt: refusal.opensAt, visit });
        const opens = refusal.opensAt * 1000;
        // A client clock ahead of the server's: wait a little longer each time, not in a loop.
        return this.schedule(opens > now ? opens : now + this.backoff(refusal.reason), () => this.ask());
      }
      case "not_confirmed":
      case "waiting_for_doctor":
      case "waiting_for_admission":
      case "admission_denied":
        this.set({ kind: refusal.reason, visit });
        // The field it waits for may have arrived while the call ran; without a listener, call again later.
        if (!this.listening) return this.schedule(now + this.poll, () => this.ask());
        if (visit !== null && this.satisfied(visit, visit)) return this.ask();
        return;
      default:
        return this.finish({ kind: "failed", refusal, visit });
    }
  }

  /** 1 s, 2 s, 4 s ... up to 30 s for consecutive retries for one reason (a token resets it). */
  private backoff(reason: string): number {
    if (reason !== this.retrying) {
      this.retrying = reason;
      this.retries = 0;
    }
    const delay = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** this.retries);
    this.retries += 1;
    return Math.max(delay, this.gap);
  }

  private schedule(at: number, run: () => void): void {
    this.clearTimer();
    const wait = at - this.clock.now();
    this.cancelTimer = this.clock.setTimer(
      () => {
        this.cancelTimer = null;
        if (this.done) return;
        if (this.clock.now() < at) this.schedule(at, run);
        else run();
      },
      Math.min(Math.max(0, wait), MAX_TIMER_MS),
    );
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
  }
}

/** Drive one visit's join over `source`, reporting every state to `onState` (first `connecting`). */
export function driveVisit(source: VisitSource, onState: (state: VisitState) => void, options: WatchOptions = {}): VisitWatch {
  const watcher = new Watcher(source, onState, options);
  watcher.start();
  return watcher;
}
