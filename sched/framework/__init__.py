"""The scheduling framework: Status, the plugin interface, the registry, profiles and the
runtime that runs a profile's plugins over the snapshot."""
