// What the page says when an action fails.
import { KitError } from "@telehealth/web-kit";

/** What a failed action says: the refusal's code (and reason), never anything of the request. */
export function failure(what: string, error: unknown): string {
  if (error instanceof KitError) return `${what} failed (${error.reason ?? error.code}).`;
  const code = (error as { code?: string } | null)?.code;
  return `${what} failed (${code ?? "error"}).`;
}
