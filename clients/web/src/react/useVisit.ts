// `useVisit`: watchVisit in a React component, stopped on unmount or when the appointment changes.
import { useEffect, useRef, useState } from "react";
import type { VisitState } from "../states.js";
import { watchVisit, type VisitOptions } from "../visit.js";

const CONNECTING: VisitState = { kind: "connecting", visit: null };

/** The visit's current state; `null` watches nothing. Options are read when the id changes. */
export function useVisit(appointmentId: string | null, options: VisitOptions = {}): VisitState {
  const [state, setState] = useState<VisitState>(CONNECTING);
  const latest = useRef(options);
  latest.current = options;
  useEffect(() => {
    if (appointmentId === null) return undefined;
    let active = true;
    const watch = watchVisit(appointmentId, (next) => active && setState(next), latest.current);
    return () => {
      active = false;
      watch.stop();
      setState(CONNECTING);
    };
  }, [appointmentId]);
  return state;
}
