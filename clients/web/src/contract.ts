// The backend's public interface as types: what each callable takes and answers (docs/api.md).

/** `VIDEO_PROVIDER` of the deployment, as the join answer names it. */
export type Provider = "jitsi" | "jaas" | "livekit" | "twilio" | "zoom" | "vonage" | "enablex";

/** The doctor is the moderator; the patient and any guest are guests. */
export type Role = "moderator" | "guest";

interface JoinCommon {
  /** The provider's signed join token: hand it to the video SDK, never put it in a URL or a log. */
  token: string;
  roomName: string;
  /** The room's URL, with no token in it. */
  roomUrl: string;
  role: Role;
  /** The token's `exp`, in epoch seconds. */
  expiresAt: number;
}

/** `get_join_token`'s answer; the provider decides which extra fields it has. */
export type JoinAnswer =
  | (JoinCommon & { provider: "jitsi" | "jaas" | "twilio" | "zoom" })
  | (JoinCommon & { provider: "livekit"; serverUrl: string })
  | (JoinCommon & { provider: "vonage"; sessionId: string; applicationId: string })
  | (JoinCommon & { provider: "enablex"; roomId: string });

export interface AppointmentRequest {
  appointmentId: string;
}

export interface AdmitRequest extends AppointmentRequest {
  admit: boolean;
}

export interface ConsentRequest extends AppointmentRequest {
  consent: boolean;
}

export type GuestKind = "interpreter" | "caregiver";

export interface InviteGuestRequest extends AppointmentRequest {
  kind: GuestKind;
  /** Shown in the meeting, followed by the server's role label. */
  name: string;
}

export interface InviteGuestAnswer {
  guestId: string;
  /** Secret: give it to the guest only (the server keeps only its hash). */
  inviteCode: string;
  inviteUrl: string;
  /** Epoch seconds: the visit's join window closes then. */
  expiresAt: number;
}

export interface RedeemInviteRequest {
  inviteCode: string;
}

export interface RedeemInviteAnswer {
  /** The visit the guest may now join with `get_join_token` (or `watchVisit`). */
  appointmentId: string;
  guestId: string;
}

export interface RemoveGuestRequest extends AppointmentRequest {
  guestId: string;
}

export interface RecordingRequest extends AppointmentRequest {
  recordingId: string;
}

export interface RecordingUrlAnswer {
  /** A short-lived download URL: do not store or share it. */
  url: string;
  expiresAt: number;
}

/** Every callable by its deployed name: request and answer types. */
export interface Callables {
  get_join_token: [AppointmentRequest, JoinAnswer];
  admit_patient: [AdmitRequest, { admitted: boolean }];
  set_recording_consent: [ConsentRequest, { consent: boolean }];
  invite_guest: [InviteGuestRequest, InviteGuestAnswer];
  redeem_invite: [RedeemInviteRequest, RedeemInviteAnswer];
  remove_guest: [RemoveGuestRequest, Record<string, unknown>];
  start_recording: [AppointmentRequest, Record<string, unknown>];
  stop_recording: [AppointmentRequest, Record<string, unknown>];
  get_recording_url: [RecordingRequest, RecordingUrlAnswer];
}

export type CallableName = keyof Callables;
