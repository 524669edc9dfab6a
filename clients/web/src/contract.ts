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
  /** The clinic's join page with the code in its fragment (`#invite=<code>`), or null where the
   * deployment has no `VIDEO_JOIN_PAGE_URL` (the app builds the link itself then). */
  inviteUrl: string | null;
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
  kind: GuestKind;
  /** The visit's join window opens (epoch seconds); the invitation expires at `expiresAt`. */
  opensAt: number;
  expiresAt: number;
}

export interface RemoveGuestRequest extends AppointmentRequest {
  guestId: string;
}

export interface RecordingRequest extends AppointmentRequest {
  recordingId: string;
}

export interface RemoveGuestAnswer {
  guestId: string;
  /** True also when the guest was gone already. */
  removed: boolean;
}

export interface StartRecordingAnswer {
  /** The recording's id (`appointments/{id}/recordings/{recordingId}`); the running one if one runs. */
  recordingId: string;
  status: "recording";
}

export interface StopRecordingAnswer {
  /** The recordings stopped (empty when none was running). */
  stopped: string[];
}

export interface RecordingUrlAnswer {
  /** A short-lived download URL: do not store or share it. */
  url: string;
  expiresAt: number;
  contentType: string | null;
  bytes: number | null;
}

/** Every callable by its deployed name: request and answer types. */
export interface Callables {
  get_join_token: [AppointmentRequest, JoinAnswer];
  admit_patient: [AdmitRequest, { admitted: boolean }];
  set_recording_consent: [ConsentRequest, { consent: boolean }];
  invite_guest: [InviteGuestRequest, InviteGuestAnswer];
  redeem_invite: [RedeemInviteRequest, RedeemInviteAnswer];
  remove_guest: [RemoveGuestRequest, RemoveGuestAnswer];
  start_recording: [AppointmentRequest, StartRecordingAnswer];
  stop_recording: [AppointmentRequest, StopRecordingAnswer];
  get_recording_url: [RecordingRequest, RecordingUrlAnswer];
}

export type CallableName = keyof Callables;
