// @telehealth/web-kit: typed callables, typed refusals, and `watchVisit`, the join as a state machine.
export type * from "./contract.js";
export { KitError, PRECONDITION_REASONS, refusalOf } from "./errors.js";
export type { PreconditionReason, Refusal, RefusalCode } from "./errors.js";
export { call, visitCalls } from "./callables.js";
export type { CallOptions, VisitCalls } from "./callables.js";
export { isFinal } from "./states.js";
export type { FinalState, VisitState, VisitStateKind, VisitView, WaitingState } from "./states.js";
export { driveVisit, systemClock, validAppointmentId } from "./watcher.js";
export type { Clock, VisitSource, VisitWatch, WatchOptions } from "./watcher.js";
export { firestoreSource, visitView, watchVisit } from "./visit.js";
export type { VisitOptions } from "./visit.js";
export { describeVisit } from "./describe.js";
