// The demo page: a clinic's web app on the client kit. Served by the Firebase Hosting emulator (make dev).
import "@livekit/components-styles";
import { initializeApp } from "firebase/app";
import { createRoot } from "react-dom/client";
import { App } from "./App.js";

// The config and the emulators' addresses come from Hosting's /__/firebase/init.js (see index.html).
initializeApp();
createRoot(document.getElementById("root")!).render(<App />);
