"""Where to write to a user: the email and phone number of their Firebase Auth account (one Auth lookup)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Contact:
    """The account's email and E.164 phone number, where it has them."""

    email: str | None = None
    phone: str | None = None


def auth_contact(uid: str) -> Contact:
    """The Auth account's contact points; none for an account that no longer exists or is disabled."""
    from firebase_admin import auth

    try:
        user = auth.get_user(uid)
    except auth.UserNotFoundError:
        return Contact()
    if user.disabled:
        return Contact()
    return Contact(email=user.email or None, phone=user.phone_number or None)
