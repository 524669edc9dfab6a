// A React app joining a visit with the kit and one component: the example in docs/clients.md, type-checked
// by scripts/build-web against the kit's sources (examples/tsconfig.json).
import "@livekit/components-styles"; // only for LiveKit's prefab UI
import { initializeApp, type FirebaseOptions } from "firebase/app";
import { useVisit, VisitMeeting } from "@telehealth/web-kit/react";

declare const firebaseConfig: FirebaseOptions;

initializeApp(firebaseConfig); // sign the user in as the app already does

export function Visit({ appointmentId }: { appointmentId: string }) {
  return <VisitMeeting state={useVisit(appointmentId)} />;
}
