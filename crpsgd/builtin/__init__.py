"""The built-in parts, one module each (listed in :data:`crpsgd.parts.BUILTIN_PARTS`)."""
