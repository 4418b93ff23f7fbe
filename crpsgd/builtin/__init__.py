"""The built-in parts, one module each (listed in :data:`crpsgd.registry.parts.BUILTIN_PARTS`)."""
