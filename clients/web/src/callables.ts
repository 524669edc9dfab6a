// Typed calls of every callable in docs/api.md; a refusal rejects with a KitError.
import { getFunctions, httpsCallable, type Functions } from "firebase/functions";
import type {
  CallableName,
  Callables,
  GuestKind,
  InviteGuestAnswer,
  JoinAnswer,
  RecordingUrlAnswer,
  RedeemInviteAnswer,
  RemoveGuestAnswer,
  StartRecordingAnswer,
  StopRecordingAnswer,
} from "./contract.js";
import { KitError, refusalOf } from "./errors.js";

export interface CallOptions {
  /** With `VIDEO_APP_CHECK_REPLAY=true`: send a one-time App Check token with each call. */
  limitedUseAppCheckTokens?: boolean;
}

/** Call `name` with `data`; its answer, or a KitError saying how it was refused. */
export async function call<N extends CallableName>(
  functions: Functions,
  name: N,
  data: Callables[N][0],
  options: CallOptions = {},
): Promise<Callables[N][1]> {
  const callable = httpsCallable<Callables[N][0], Callables[N][1]>(functions, name, options);
  try {
    return (await callable(data)).data;
  } catch (error) {
    throw new KitError(name, refusalOf(error));
  }
}

/** The callables bound to one Functions instance (by default the default app's). */
export interface VisitCalls {
  getJoinToken(appointmentId: string): Promise<JoinAnswer>;
  /** Doctor, waiting room `admit`: let the waiting patient in, or not. */
  admitPatient(appointmentId: string, admit: boolean): Promise<{ admitted: boolean }>;
  /** Patient: yes or no to recording; the doctor's next token follows it. */
  setRecordingConsent(appointmentId: string, consent: boolean): Promise<{ consent: boolean }>;
  /** Doctor: invite an interpreter or a caregiver. */
  inviteGuest(appointmentId: string, kind: GuestKind, name: string): Promise<InviteGuestAnswer>;
  /** The guest, signed in with any method: bind the invitation to this account. */
  redeemInvite(inviteCode: string): Promise<RedeemInviteAnswer>;
  /** Doctor or patient: the guest is refused from now on. */
  removeGuest(appointmentId: string, guestId: string): Promise<RemoveGuestAnswer>;
  /** Doctor, where the provider records through the backend (LiveKit egress), with the patient's consent. */
  startRecording(appointmentId: string): Promise<StartRecordingAnswer>;
  stopRecording(appointmentId: string): Promise<StopRecordingAnswer>;
  /** A short-lived download URL for a stored recording. */
  getRecordingUrl(appointmentId: string, recordingId: string): Promise<RecordingUrlAnswer>;
}

export function visitCalls(functions: Functions = getFunctions(), options: CallOptions = {}): VisitCalls {
  return {
    getJoinToken: (appointmentId) => call(functions, "get_join_token", { appointmentId }, options),
    admitPatient: (appointmentId, admit) => call(functions, "admit_patient", { appointmentId, admit }, options),
    setRecordingConsent: (appointmentId, consent) =>
      call(functions, "set_recording_consent", { appointmentId, consent }, options),
    inviteGuest: (appointmentId, kind, name) => call(functions, "invite_guest", { appointmentId, kind, name }, options),
    redeemInvite: (inviteCode) => call(functions, "redeem_invite", { inviteCode }, options),
    removeGuest: (appointmentId, guestId) => call(functions, "remove_guest", { appointmentId, guestId }, options),
    startRecording: (appointmentId) => call(functions, "start_recording", { appointmentId }, options),
    stopRecording: (appointmentId) => call(functions, "stop_recording", { appointmentId }, options),
    getRecordingUrl: (appointmentId, recordingId) =>
      call(functions, "get_recording_url", { appointmentId, recordingId }, options),
  };
}
