// What `watchVisit` reports: one typed state per step of the join and per refusal.
import type { JoinAnswer } from "./contract.js";
import type { Refusal } from "./errors.js";

/** The appointment as the kit reads it (the fields the join depends on), or null before the first read. */
export interface VisitView {
  type: string | null;
  status: string | null;
  /** Epoch milliseconds, or null when missing or not a timestamp. */
  startTime: number | null;
  endTime: number | null;
  roomName: string | null;
  providerRoomId: string | null;
  /** `video.doctorJoinedAt` is set: the doctor has been given a token (waiting room `host`). */
  doctorJoined: boolean;
  /** `video.lobby.waitingSince` is set: the patient is in the lobby (waiting room `admit`). */
  inLobby: boolean;
  admitted: boolean;
  denied: boolean;
  /** `video.recordingConsent.consent`, or null when the patient has not answered. */
  recordingConsent: boolean | null;
  /** `video.attendance`: what the provider reported. */
  doctorInRoom: boolean;
  patientInRoom: boolean;
}

interface Base {
  /** The latest read of the appointment (null before the first, or when it cannot be read: guests). */
  visit: VisitView | null;
}

/** States the kit moves on from by itself: it waits for a field, a time, or an answer. */
export type WaitingState =
  | (Base & { kind: "connecting" })
  /** The visit is pending: waiting for the doctor to confirm it. */
  | (Base & { kind: "not_confirmed" })
  /** Confirmed, its room is being prepared. `retryAt` (epoch ms) when the kit calls again, or null
   * while it waits for the room to appear on the appointment. */
  | (Base & { kind: "room_not_ready"; retryAt: number | null })
  /** A call for a token is on its way. */
  | (Base & { kind: "joining" })
  /** Before the join window: the kit calls again at `opensAt` (epoch seconds). */
  | (Base & { kind: "too_early"; opensAt: number })
  /** Waiting room `host`: until the doctor is in (`video.doctorJoinedAt`). */
  | (Base & { kind: "waiting_for_doctor" })
  /** Waiting room `admit`: in the lobby until the doctor decides (`video.admittedAt` / `deniedAt`). */
  | (Base & { kind: "waiting_for_admission" })
  /** The doctor turned the patient away; the kit calls again if the doctor admits them after all. */
  | (Base & { kind: "admission_denied" })
  /** Too many calls by this account: the kit calls again at `retryAt` (epoch ms). */
  | (Base & { kind: "rate_limited"; retryAfter: number; retryAt: number })
  /** The provider's API did not answer (EnableX tokens): the kit calls again at `retryAt`. */
  | (Base & { kind: "provider_unavailable"; retryAt: number })
  /** The appointment kept changing under the call: the kit calls again at `retryAt`. */
  | (Base & { kind: "concurrent_update"; retryAt: number })
  /** In: `join` is the answer to open the meeting with. The kit asks for a new token at `refreshAt`
   * (epoch ms, before `join.expiresAt`); a new answer for the same room replaces `join`. */
  | (Base & { kind: "joined"; join: JoinAnswer; refreshAt: number });

/** States the kit stops at: it stops listening and calls no more. */
export type FinalState =
  /** The join window has closed (`closesAt`, epoch seconds, when the server said). */
  | (Base & { kind: "too_late"; closesAt: number | null })
  /** The visit was cancelled or completed (or deleted by a server). */
  | (Base & { kind: "ended"; status: "cancelled" | "completed" | "deleted" })
  /** No such appointment, or this account has no part in it. */
  | (Base & { kind: "not_found" })
  | (Base & { kind: "not_video" })
  /** The stored times are broken (only a server can write that). */
  | (Base & { kind: "bad_schedule" })
  /** Signed out, session revoked or disabled, or App Check refused: sign in again. */
  | (Base & { kind: "unauthenticated" })
  /** The appointment id is malformed (a bug in the app). */
  | (Base & { kind: "invalid_argument" })
  /** The server failed or is misconfigured: try again later. */
  | (Base & { kind: "internal" })
  /** A refusal this kit does not know. */
  | (Base & { kind: "failed"; refusal: Refusal })
  /** `stop()` was called. */
  | (Base & { kind: "stopped" });

export type VisitState = WaitingState | FinalState;
export type VisitStateKind = VisitState["kind"];

const FINAL: ReadonlySet<VisitStateKind> = new Set<VisitStateKind>([
  "too_late",
  "ended",
  "not_found",
  "not_video",
  "bad_schedule",
  "unauthenticated",
  "invalid_argument",
  "internal",
  "failed",
  "stopped",
]);

/** Whether the kit has stopped at this state (it listens and calls no more). */
export function isFinal(state: VisitState): state is FinalState {
  return FINAL.has(state.kind);
}
