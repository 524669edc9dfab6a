// One open visit, on the kit: useVisit drives the join, VisitMeeting opens the provider's meeting.
import { describeVisit, type JoinAnswer, type VisitOptions, type VisitState } from "@telehealth/web-kit";
import { useVisit, VisitMeeting } from "@telehealth/web-kit/react";

/** What a real app does with providers the kit has no component for (their SDKs reach their own clouds). */
function otherProvider(join: JoinAnswer) {
  const sdk: Record<string, string> = {
    twilio: `Twilio Video: Video.connect(token, { name: "${join.roomName}" }) with twilio-video.`,
    zoom: `Zoom Video SDK: client.join("${join.roomName}", token, userName) with @zoom/videosdk.`,
    vonage: "Vonage Video: OT.initSession(applicationId, sessionId).connect(token) with @vonage/client-sdk-video.",
    enablex: "EnableX: EnxRtc.joinRoom(token, ...) with the EnableX Web SDK.",
  };
  return (
    <p className="visit-offline" data-role="meeting-offline">
      {sdk[join.provider] ?? join.provider} Its servers cannot be reached from this machine.
    </p>
  );
}

interface VisitPanelProps {
  appointmentId: string;
  /** Leave the visit (the panel goes; the kit stops). Without it there is no Leave button. */
  onClose?: () => void;
  options?: VisitOptions;
  describe?: (state: VisitState) => string;
}

export function VisitPanel({ appointmentId, onClose, options, describe = describeVisit }: VisitPanelProps) {
  const state = useVisit(appointmentId, options);
  return (
    <section id="visit" data-visit-state={state.kind}>
      <h2>
        Visit {appointmentId}{" "}
        {onClose && (
          <button type="button" onClick={onClose}>
            Leave
          </button>
        )}
      </h2>
      <p id="visit-status">{describe(state)}</p>
      {state.kind === "joined" && (
        <dl>
          <dt>Room</dt>
          <dd id="meeting-room">{state.join.roomName}</dd>
          <dt>Your role</dt>
          <dd id="meeting-role">{state.join.role}</dd>
          <dt>Provider</dt>
          <dd id="meeting-provider">{state.join.provider}</dd>
          <dt>Token expires</dt>
          <dd id="meeting-expires">{new Date(state.join.expiresAt * 1000).toLocaleString()}</dd>
        </dl>
      )}
      <VisitMeeting state={state} renderWaiting={() => null} renderOther={otherProvider} onLeave={onClose} />
    </section>
  );
}
