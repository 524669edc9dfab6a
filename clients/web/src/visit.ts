// `watchVisit`: the state machine (watcher.ts) on the appointment's Firestore listener and `get_join_token`.
import { doc, getFirestore, onSnapshot, type DocumentData, type Firestore } from "firebase/firestore";
import type { Functions } from "firebase/functions";
import { visitCalls, type CallOptions } from "./callables.js";
import type { VisitState, VisitView } from "./states.js";
import { driveVisit, validAppointmentId, type VisitSource, type VisitWatch, type WatchOptions } from "./watcher.js";

export interface VisitOptions extends WatchOptions {
  /** Default: `getFirestore()` of the default app. */
  firestore?: Firestore;
  /** Default: `getFunctions()` of the default app. */
  functions?: Functions;
  call?: CallOptions;
}

function millis(value: unknown): number | null {
  const stamp = value as { toMillis?: () => number } | null | undefined;
  return typeof stamp?.toMillis === "function" ? stamp.toMillis() : null;
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
}

/** The fields of an appointment document the join depends on (docs/api.md, "The video map"). */
export function visitView(data: DocumentData): VisitView {
  const video = record(data.video);
  const consent = record(video.recordingConsent).consent;
  const attendance = record(video.attendance);
  return {
    type: text(data.type),
    status: text(data.status),
    startTime: millis(data.startTime),
    endTime: millis(data.endTime),
    roomName: text(video.roomName),
    providerRoomId: text(video.providerRoomId),
    doctorJoined: video.doctorJoinedAt != null,
    inLobby: record(video.lobby).waitingSince != null,
    admitted: video.admittedAt != null,
    denied: video.deniedAt != null,
    recordingConsent: typeof consent === "boolean" ? consent : null,
    doctorInRoom: attendance.doctorJoinedAt != null,
    patientInRoom: attendance.patientJoinedAt != null,
  };
}

/** The appointment's listener and its join call, as the state machine's source. */
export function firestoreSource(appointmentId: string, options: VisitOptions = {}): VisitSource {
  const calls = visitCalls(options.functions, options.call);
  return {
    listen(onVisit, onError) {
      const ref = doc(options.firestore ?? getFirestore(), "appointments", appointmentId);
      return onSnapshot(ref, (snap) => onVisit(snap.exists() ? visitView(snap.data()) : null), onError);
    },
    join: () => calls.getJoinToken(appointmentId),
  };
}

/**
 * Listen to the appointment and drive its join: call `get_join_token` when the room is there, wait
 * for the field or the time each refusal names, call again, re-ask before the token expires, and stop
 * at the end. `onState` gets every state (`VisitState`); `stop()` ends it all.
 */
export function watchVisit(
  appointmentId: string,
  onState: (state: VisitState) => void,
  options: VisitOptions = {},
): VisitWatch {
  if (!validAppointmentId(appointmentId)) {
    const refused: VisitState = { kind: "invalid_argument", visit: null };
    onState(refused);
    return { stop: () => undefined, state: refused };
  }
  return driveVisit(firestoreSource(appointmentId, options), onState, options);
}
