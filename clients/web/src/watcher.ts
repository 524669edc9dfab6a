// The join as a state machine over two seams: a source (the appointment's listener and the join call)
// and a clock. `watchVisit` (visit.ts) binds them to Firestore and the callable; tests bind fakes.
import type { JoinAnswer } from "./contract.js";
import { KitError, refusalOf, type Refusal } from "./errors.js";
import { systemClock, type Clock, type VisitSource, type VisitWatch, type WatchOptions } from "./seams.js";
import type { FinalState, VisitState, VisitView } from "./states.js";
import { Backoff, CallBudget, Timer } from "./timing.js";

export type { Clock, VisitSource, VisitWatch, WatchOptions } from "./seams.js";
export { systemClock, validAppointmentId } from "./seams.js";

type Waking = (visit: VisitView, before: VisitView | null) => boolean;

/** What each waiting state waits for on the appointment: when it turns true, the kit calls again. */
const WAKES: Partial<Record<VisitState["kind"], Waking>> = {
  connecting: () => true,
  not_confirmed: () => true,
  waiting_for_doctor: (visit) => visit.doctorJoined,
  waiting_for_admission: (visit) => visit.admitted || visit.denied,
  // An admission deletes video.deniedAt: the doctor changed their mind.
  admission_denied: (visit) => visit.admitted,
  // The window moves with the visit's times; the room is there when its name (or the provider's room id) is.
  too_early: (visit, before) => visit.startTime !== before?.startTime || visit.endTime !== before?.endTime,
  room_not_ready: (visit, before) => visit.providerRoomId !== before?.providerRoomId || before?.roomName !== visit.roomName,
};

const PLAIN_FINAL: Record<string, FinalState["kind"]> = {
  unauthenticated: "unauthenticated",
  "invalid-argument": "invalid_argument",
  "not-found": "not_found",
  internal: "internal",
};

class Watcher implements VisitWatch {
  state: VisitState = { kind: "connecting", visit: null };
  private visit: VisitView | null = null;
  private seen = false;
  private listening = true;
  private done = false;
  private inFlight = false;
  private unlisten: (() => void) | null = null;
  private readonly clock: Clock;
  private readonly budget: CallBudget;
  private readonly timer: Timer;
  private readonly backoff: Backoff;
  private readonly poll: number;
  private readonly refreshBefore: number;

  constructor(
    private readonly source: VisitSource,
    private readonly onState: (state: VisitState) => void,
    options: WatchOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    const gap = Math.max(0, options.minCallGapMs ?? 1000);
    this.budget = new CallBudget(Math.max(1, options.callsPerMinute ?? 10), gap);
    this.timer = new Timer(this.clock);
    this.backoff = new Backoff(gap);
    this.poll = Math.max(gap, options.pollMs ?? 15_000);
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
    this.timer.clear();
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
      this.timer.clear();
      return this.set({ kind: "not_confirmed", visit });
    }
    if (visit.roomName === null) {
      this.timer.clear();
      return this.set({ kind: "room_not_ready", retryAt: null, visit });
    }
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
    const at = this.budget.next(this.clock.now());
    if (at > this.clock.now()) this.schedule(at, () => this.callNow());
    else this.callNow();
  }

  private callNow(): void {
    if (this.done) return;
    this.timer.clear();
    this.inFlight = true;
    this.budget.spend(this.clock.now());
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
    this.backoff.reset();
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
        const retryAt = now + this.backoff.next(refusal.reason);
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
        const retryAt = now + this.backoff.next(refusal.reason);
        this.set({ kind: "room_not_ready", retryAt, visit });
        return this.schedule(retryAt, () => this.ask());
      }
      case "too_early": {
        this.set({ kind: "too_early", opensAt: refusal.opensAt, visit });
        const opens = refusal.opensAt * 1000;
        // A client clock ahead of the server's: wait a little longer each time, not in a loop.
        return this.schedule(opens > now ? opens : now + this.backoff.next(refusal.reason), () => this.ask());
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

  private schedule(at: number, run: () => void): void {
    this.timer.at(at, () => {
      if (!this.done) run();
    });
  }
}

/** Drive one visit's join over `source`, reporting every state to `onState` (first `connecting`). */
export function driveVisit(source: VisitSource, onState: (state: VisitState) => void, options: WatchOptions = {}): VisitWatch {
  const watcher = new Watcher(source, onState, options);
  watcher.start();
  return watcher;
}
