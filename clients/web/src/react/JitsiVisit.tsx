// Self-hosted Jitsi and JaaS: @jitsi/react-sdk's JitsiMeeting with the join answer.
import { JitsiMeeting } from "@jitsi/react-sdk";
import { useEffect, useState } from "react";
import type { JoinAnswer } from "../contract.js";

export interface JitsiVisitProps {
  join: JoinAnswer;
  /** The meeting's `readyToClose` (the participant hung up). */
  onLeave?: () => void;
  /** Passed to JitsiMeeting as they are. */
  configOverwrite?: object;
  interfaceConfigOverwrite?: object;
  /** How long to wait for the service's external_api.js before saying it cannot be reached. */
  scriptTimeoutMs?: number;
}

/** Domain and room for JitsiMeeting, read off `roomUrl`: JaaS rooms are `<AppID>/<room>` on 8x8.vc. */
export function jitsiRoom(join: JoinAnswer): { domain: string; roomName: string; appId: string | undefined } {
  const url = new URL(join.roomUrl);
  const roomName = decodeURIComponent(url.pathname.slice(1));
  const slash = roomName.indexOf("/");
  return { domain: url.host, roomName, appId: slash > 0 ? roomName.slice(0, slash) : undefined };
}

type Script = "loading" | "ready" | "unreachable";

/** The external API is loaded (never on a server render). */
const loaded = () => typeof window !== "undefined" && window.JitsiMeetExternalAPI !== undefined;

/** Load the service's external_api.js once, with a deadline. JitsiMeeting loads it too, but only logs a
 * failure and keeps its first attempt for the page's life; loaded here first, it finds the global. */
function useExternalApi(domain: string, appId: string | undefined, timeoutMs: number, attempt: number): Script {
  const [script, setScript] = useState<Script>(() => (loaded() ? "ready" : "loading"));
  useEffect(() => {
    if (loaded()) {
      setScript("ready");
      return undefined;
    }
    setScript("loading");
    const element = document.createElement("script");
    const timer = setTimeout(() => fail(), timeoutMs);
    function fail() {
      clearTimeout(timer);
      element.remove();
      setScript("unreachable");
    }
    element.async = true;
    element.src = `https://${domain}/${appId ? `${appId}/` : ""}external_api.js`;
    element.onload = () => {
      clearTimeout(timer);
      setScript(loaded() ? "ready" : "unreachable");
    };
    element.onerror = fail;
    document.head.append(element);
    return () => {
      clearTimeout(timer);
      element.onload = null;
      element.onerror = null;
    };
  }, [domain, appId, timeoutMs, attempt]);
  return script;
}

export function JitsiVisit({ join, onLeave, configOverwrite, interfaceConfigOverwrite, scriptTimeoutMs = 10_000 }: JitsiVisitProps) {
  const { domain, roomName, appId } = jitsiRoom(join);
  const [attempt, setAttempt] = useState(0);
  const script = useExternalApi(domain, appId, scriptTimeoutMs, attempt);
  if (script === "unreachable") {
    return (
      <div className="visit-offline" data-role="meeting-offline">
        <p>
          The video service at {domain} cannot be reached from this device, so the meeting cannot open here. Your
          token for room {join.roomName} is valid until {new Date(join.expiresAt * 1000).toLocaleTimeString()}.
        </p>
        <button type="button" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </div>
    );
  }
  if (script === "loading") {
    return (
      <p className="visit-offline" data-role="meeting-offline">
        Connecting to {domain}…
      </p>
    );
  }
  return (
    <div className="visit-jitsi" data-provider={join.provider}>
      <JitsiMeeting
        domain={domain}
        roomName={roomName}
        jwt={join.token}
        configOverwrite={configOverwrite}
        interfaceConfigOverwrite={interfaceConfigOverwrite}
        onReadyToClose={onLeave}
        getIFrameRef={(node) => {
          node.style.height = "100%";
        }}
      />
    </div>
  );
}
