// One plain English sentence per state, for apps that show the kit's state as it is (the demo does).
// Nothing personal and no health data: times, and what happens next.
import type { VisitState } from "./states.js";

function clock(epochMs: number): string {
  return new Date(epochMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function day(epochMs: number): string {
  return new Date(epochMs).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

export function describeVisit(state: VisitState): string {
  switch (state.kind) {
    case "connecting":
      return "Loading the appointment…";
    case "not_confirmed":
      return "Waiting for the doctor to confirm this appointment.";
    case "room_not_ready":
      return "The room is being prepared…";
    case "joining":
      return "Getting your join token…";
    case "too_early":
      return `Too early: the room opens at ${day(state.opensAt * 1000)}. You will be let in then.`;
    case "waiting_for_doctor":
      return "Waiting for the doctor to join… you will be let in automatically.";
    case "waiting_for_admission":
      return "You are in the waiting room. The doctor will let you in shortly…";
    case "admission_denied":
      return "The doctor did not admit you to this consultation.";
    case "rate_limited":
      return `Too many attempts; trying again at ${clock(state.retryAt)}.`;
    case "provider_unavailable":
      return "The video service did not answer; trying again shortly…";
    case "concurrent_update":
      return "The appointment was changing; trying again…";
    case "joined":
      return `In the consultation (token valid until ${clock(state.join.expiresAt * 1000)}).`;
    case "too_late":
      return "This consultation's join window has closed.";
    case "ended":
      return state.status === "cancelled" ? "This appointment was cancelled." : "This consultation has ended.";
    case "not_found":
      return "This appointment isn't available.";
    case "not_video":
      return "This is not a video appointment.";
    case "bad_schedule":
      return "This appointment's times are broken; please contact the clinic.";
    case "unauthenticated":
      return "Please sign in again.";
    case "invalid_argument":
      return "This link is not a valid appointment.";
    case "internal":
      return "Video is unavailable right now; please try again later.";
    case "failed":
      return "The consultation cannot be joined right now.";
    case "stopped":
      return "";
  }
}
