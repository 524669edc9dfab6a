// @telehealth/web-kit/react: the kit's state in React, and the meeting chosen by provider.
export { useVisit } from "./useVisit.js";
export { VisitMeeting } from "./VisitMeeting.js";
export type { VisitMeetingProps } from "./VisitMeeting.js";
export { JitsiVisit, jitsiRoom } from "./JitsiVisit.js";
export type { JitsiVisitProps } from "./JitsiVisit.js";
export { LiveKitVisit } from "./LiveKitVisit.js";
export type { LiveKitVisitProps } from "./LiveKitVisit.js";
