"""Test-wide settings: property tests are judged on what they find, never on a shared
machine's speed (no per-example deadline)."""

from hypothesis import settings

settings.register_profile("diffprice", deadline=None)
settings.load_profile("diffprice")
