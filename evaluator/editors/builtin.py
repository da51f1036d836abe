"""Importing this module registers every built-in editor."""

# One import per editor module; each module registers itself with @register_editor.
