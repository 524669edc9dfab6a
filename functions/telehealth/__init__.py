"""Core of the telehealth video backend: rooms, access policy, provider tokens, Firestore adapter."""
