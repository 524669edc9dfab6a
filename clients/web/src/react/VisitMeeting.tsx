// The meeting for the kit's state: Jitsi/JaaS or LiveKit by the answer's `provider`, else a status line.
import { useRef, type ReactNode } from "react";
import type { JoinAnswer } from "../contract.js";
import { describeVisit } from "../describe.js";
import type { VisitState } from "../states.js";
import { JitsiVisit } from "./JitsiVisit.js";
import { LiveKitVisit } from "./LiveKitVisit.js";

export interface VisitMeetingProps {
  state: VisitState;
  /** Every state but `joined` (default: `describeVisit` in a status line). */
  renderWaiting?: (state: VisitState) => ReactNode;
  /** Providers without a component here (twilio, zoom, vonage, enablex): open their own SDK with `join`. */
  renderOther?: (join: JoinAnswer) => ReactNode;
  onLeave?: () => void;
}

/** The first answer for a room: a re-asked token (same room) must not reconnect a running meeting. The
 * newest one is in `state.join` for a reconnect; a new room (the visit moved) starts a new meeting. */
function useMeetingAnswer(join: JoinAnswer | null): JoinAnswer | null {
  const kept = useRef<JoinAnswer | null>(null);
  const held = kept.current;
  if (join === null) kept.current = null;
  else if (held === null || held.roomName !== join.roomName || held.provider !== join.provider || held.role !== join.role) {
    kept.current = join;
  }
  return kept.current;
}

function otherProvider(join: JoinAnswer): ReactNode {
  return (
    <p className="visit-offline" data-role="meeting-offline">
      Open room {join.roomName} with the {join.provider} SDK (the kit has no component for it).
    </p>
  );
}

export function VisitMeeting({ state, renderWaiting, renderOther = otherProvider, onLeave }: VisitMeetingProps) {
  const join = useMeetingAnswer(state.kind === "joined" ? state.join : null);
  if (join === null) {
    return renderWaiting ? renderWaiting(state) : (
      <p role="status" data-visit-state={state.kind}>
        {describeVisit(state)}
      </p>
    );
  }
  switch (join.provider) {
    case "jitsi":
    case "jaas":
      return <JitsiVisit key={join.roomName} join={join} onLeave={onLeave} />;
    case "livekit":
      return <LiveKitVisit key={join.roomName} join={join} onLeave={onLeave} />;
    default:
      return renderOther(join);
  }
}
