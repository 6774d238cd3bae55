"""The active language profile for ``qa``: re-exported from :mod:`index.language`, where it
lives so that the sentence splitter in ``index/`` reads the same profile without importing
``qa``."""

from __future__ import annotations

from index.language import ENGLISH, PROFILES, LanguageProfile, active, set_active

__all__ = ["ENGLISH", "PROFILES", "LanguageProfile", "active", "set_active"]
