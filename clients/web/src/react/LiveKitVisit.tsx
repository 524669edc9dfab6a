// LiveKit (and OpenVidu 3): @livekit/components-react's LiveKitRoom and VideoConference with the answer.
import { LiveKitRoom, VideoConference } from "@livekit/components-react";
import { useRef, useState } from "react";
import type { JoinAnswer } from "../contract.js";

export interface LiveKitVisitProps {
  join: JoinAnswer & { provider: "livekit" };
  /** The room disconnected after it had connected (left, or removed when the visit ended); a connection
   * that never came up is shown as unreachable instead. */
  onLeave?: () => void;
  /** Publish the camera and microphone on joining (default true). */
  publish?: boolean;
}

export function LiveKitVisit({ join, onLeave, publish = true }: LiveKitVisitProps) {
  const [failed, setFailed] = useState(false);
  const connected = useRef(false);
  const host = new URL(join.serverUrl).host;
  return (
    <div className="visit-livekit" data-provider="livekit" style={{ display: "flex", flexDirection: "column" }}>
      {failed && (
        // The error's own text is not shown: a signalling URL can carry the token.
        <p className="visit-offline" data-role="meeting-offline">
          The video service at {host} cannot be reached from this device, so the meeting cannot open here. Your
          token for room {join.roomName} is valid until {new Date(join.expiresAt * 1000).toLocaleTimeString()}.
        </p>
      )}
      <LiveKitRoom
        data-lk-theme="default"
        style={{ flex: 1, minHeight: 0 }}
        serverUrl={join.serverUrl}
        token={join.token}
        connect
        audio={publish}
        video={publish}
        onConnected={() => {
          connected.current = true;
          setFailed(false);
        }}
        onError={() => setFailed(true)}
        onDisconnected={() => {
          if (connected.current) onLeave?.();
        }}
      >
        <VideoConference />
      </LiveKitRoom>
    </div>
  );
}
