// LiveKit (and OpenVidu 3): @livekit/components-react's LiveKitRoom and VideoConference with the answer.
import { LiveKitRoom, VideoConference } from "@livekit/components-react";
import { useState } from "react";
import type { JoinAnswer } from "../contract.js";

export interface LiveKitVisitProps {
  join: JoinAnswer & { provider: "livekit" };
  /** The room disconnected (left, or removed when the visit ended). */
  onLeave?: () => void;
  /** Publish the camera and microphone on joining (default true). */
  publish?: boolean;
}

export function LiveKitVisit({ join, onLeave, publish = true }: LiveKitVisitProps) {
  const [failed, setFailed] = useState(false);
  const host = new URL(join.serverUrl).host;
  return (
    <div className="visit-livekit" data-provider="livekit" data-lk-theme="default">
      {failed && (
        // The error's own text is not shown: a signalling URL can carry the token.
        <p className="visit-offline" data-role="meeting-offline">
          The video service at {host} cannot be reached from this device, so the meeting cannot open here. Your
          token for room {join.roomName} is valid until {new Date(join.expiresAt * 1000).toLocaleTimeString()}.
        </p>
      )}
      <LiveKitRoom
        serverUrl={join.serverUrl}
        token={join.token}
        connect
        audio={publish}
        video={publish}
        onConnected={() => setFailed(false)}
        onError={() => setFailed(true)}
        onDisconnected={onLeave}
      >
        <VideoConference />
      </LiveKitRoom>
    </div>
  );
}
