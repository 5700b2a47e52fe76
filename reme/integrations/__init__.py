"""Integrations with other systems (AReaL). Each imports its system lazily, never at ``import reme``."""
