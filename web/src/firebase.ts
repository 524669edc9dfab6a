// The page's Firebase services (the default app, connected to the emulators by __FIREBASE_DEFAULTS__).
import { getAuth, onAuthStateChanged, type User } from "firebase/auth";
import { collection, getFirestore, onSnapshot, query, where, type Timestamp } from "firebase/firestore";
import { getFunctions } from "firebase/functions";
import { visitCalls } from "@telehealth/web-kit";
import { useEffect, useState } from "react";

export const auth = () => getAuth();
export const db = () => getFirestore();
export const kit = () => visitCalls(getFunctions());

/** The signed-in user; undefined until Auth has said. */
export function useUser(): User | null | undefined {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  useEffect(() => onAuthStateChanged(auth(), setUser), []);
  return user;
}

export interface Appointment {
  id: string;
  patientId: string;
  doctorId: string;
  type: string;
  status: string;
  startTime: Timestamp;
  endTime: Timestamp;
  video?: {
    roomName?: string;
    lobby?: { waitingSince?: Timestamp };
    admittedAt?: Timestamp;
    deniedAt?: Timestamp;
    recordingConsent?: { consent: boolean };
    attendance?: { doctorJoinedAt?: Timestamp; patientJoinedAt?: Timestamp };
  };
}

/** Whether the account holds the doctor claim (the rules let only active doctors list their visits). */
export function useIsDoctor(user: User): boolean | undefined {
  const [doctor, setDoctor] = useState<boolean | undefined>(undefined);
  useEffect(() => {
    let current = true;
    user.getIdTokenResult().then(
      (result) => current && setDoctor(result.claims.role === "doctor"),
      () => current && setDoctor(false),
    );
    return () => {
      current = false;
    };
  }, [user]);
  return doctor;
}

/** The user's appointments, live: a filtered listener per part the account may have (the rules allow a
 * list only on the caller's own id, and as the doctor only for an active doctor). */
export function useAppointments(user: User, onError: (text: string) => void): Appointment[] {
  const [rows, setRows] = useState<Map<string, Appointment>>(new Map());
  const isDoctor = useIsDoctor(user);
  const uid = user.uid;
  useEffect(() => {
    if (isDoctor === undefined) return undefined;
    const fields = isDoctor ? ["patientId", "doctorId"] : ["patientId"];
    const stops = fields.map((field) =>
      onSnapshot(
        query(collection(db(), "appointments"), where(field, "==", uid)),
        (snapshot) =>
          setRows((previous) => {
            const next = new Map(previous);
            for (const change of snapshot.docChanges()) {
              if (change.type === "removed") next.delete(change.doc.id);
              else next.set(change.doc.id, { id: change.doc.id, ...change.doc.data() } as Appointment);
            }
            return next;
          }),
        (error) => onError(`Listening failed (${error.code}).`),
      ),
    );
    return () => stops.forEach((stop) => stop());
  }, [uid, isDoctor, onError]);
  return [...rows.values()].sort((a, b) => a.startTime.toMillis() - b.startTime.toMillis());
}
