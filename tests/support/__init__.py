"""Test support shared by the emulator tests, the provider matrix and the benchmarks (see docs/testing.md)."""
