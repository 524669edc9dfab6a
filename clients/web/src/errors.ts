// The callables' refusals as typed values (docs/api.md, "Refusals"): one `Refusal` per code and reason.
import type { CallableName } from "./contract.js";

/** `failed-precondition` reasons: the visit cannot be joined (or acted on) now. */
export type PreconditionReason =
  | "not_video"
  | "not_confirmed"
  | "room_not_ready"
  | "bad_schedule"
  | "too_early"
  | "too_late"
  | "waiting_for_doctor"
  | "waiting_for_admission"
  | "admission_denied"
  | "admission_off"
  | "guest_limit"
  | "recording_off"
  | "recording_unsupported"
  | "no_consent"
  | "not_ready";

export const PRECONDITION_REASONS: readonly PreconditionReason[] = [
  "not_video",
  "not_confirmed",
  "room_not_ready",
  "bad_schedule",
  "too_early",
  "too_late",
  "waiting_for_doctor",
  "waiting_for_admission",
  "admission_denied",
  "admission_off",
  "guest_limit",
  "recording_off",
  "recording_unsupported",
  "no_consent",
  "not_ready",
];

/** Reasons whose refusal carries a number beside it, and its name. */
type WithNumber = "too_early" | "too_late" | "guest_limit";

/** A refusal, by `HttpsError` code and, where the backend sends one, `details.reason`. */
export type Refusal =
  | { code: "unauthenticated" }
  | { code: "invalid-argument" }
  | { code: "not-found" }
  | { code: "internal" }
  /** Too many calls by this account: call again in `retryAfter` whole seconds. */
  | { code: "resource-exhausted"; retryAfter: number }
  | { code: "failed-precondition"; reason: "too_early"; opensAt: number }
  | { code: "failed-precondition"; reason: "too_late"; closesAt: number }
  /** `invite_guest`: the visit has `maxGuests` guests already. */
  | { code: "failed-precondition"; reason: "guest_limit"; maxGuests: number }
  | { code: "failed-precondition"; reason: Exclude<PreconditionReason, WithNumber> }
  /** A provider that issues tokens itself did not answer: call again shortly. */
  | { code: "unavailable"; reason: "provider_unavailable" }
  /** The appointment kept changing under the request: call again. */
  | { code: "aborted"; reason: "concurrent_update" }
  /** Anything this kit does not know (a newer backend's refusal, a network failure the SDK reports). */
  | { code: "other"; sdkCode: string; reason?: string };

export type RefusalCode = Refusal["code"];

/** A callable refused: `refusal` says how, `callable` which one. The message holds nothing of the request. */
export class KitError extends Error {
  override readonly name = "KitError";

  constructor(
    readonly callable: CallableName,
    readonly refusal: Refusal,
  ) {
    const reason = "reason" in refusal ? ` (${refusal.reason})` : "";
    super(`${callable} refused: ${refusal.code === "other" ? refusal.sdkCode : refusal.code}${reason}`);
  }

  get code(): RefusalCode {
    return this.refusal.code;
  }

  /** `details.reason`, where the refusal has one. */
  get reason(): string | undefined {
    return "reason" in this.refusal ? this.refusal.reason : undefined;
  }
}

const PLAIN = new Set(["unauthenticated", "invalid-argument", "not-found", "internal"]);

function wholeSeconds(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** The refusal a Firebase callable error stands for (`code` "functions/<code>", `details` from the server). */
export function refusalOf(error: unknown): Refusal {
  const raw = typeof error === "object" && error !== null ? (error as { code?: unknown; details?: unknown }) : {};
  const sdkCode = typeof raw.code === "string" ? raw.code : "unknown";
  const code = sdkCode.replace(/^functions\//, "");
  const details = typeof raw.details === "object" && raw.details !== null ? (raw.details as Record<string, unknown>) : {};
  const reason = typeof details.reason === "string" ? details.reason : undefined;
  if (PLAIN.has(code)) return { code } as Refusal;
  if (code === "resource-exhausted" && wholeSeconds(details.retryAfter)) {
    return { code, retryAfter: details.retryAfter };
  }
  if (code === "unavailable" && reason === "provider_unavailable") return { code, reason };
  if (code === "aborted" && reason === "concurrent_update") return { code, reason };
  if (code === "failed-precondition" && reason !== undefined) {
    if (reason === "too_early" && wholeSeconds(details.opensAt)) return { code, reason, opensAt: details.opensAt };
    if (reason === "too_late" && wholeSeconds(details.closesAt)) return { code, reason, closesAt: details.closesAt };
    if (reason === "guest_limit" && wholeSeconds(details.maxGuests)) return { code, reason, maxGuests: details.maxGuests };
    const numbered: readonly string[] = ["too_early", "too_late", "guest_limit"] satisfies WithNumber[];
    if (!numbered.includes(reason) && (PRECONDITION_REASONS as readonly string[]).includes(reason)) {
      return { code, reason: reason as Exclude<PreconditionReason, WithNumber> };
    }
  }
  return reason === undefined ? { code: "other", sdkCode } : { code: "other", sdkCode, reason };
}
