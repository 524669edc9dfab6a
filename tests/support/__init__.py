"""Test support shared by every tier: configs, fakes, stand-ins, the emulator client."""
