"""Test support shared by every tier: configs, the emulator client, fakes and stand-ins (docs/testing.md)."""
