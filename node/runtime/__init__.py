"""Container runtimes behind one interface (``base.Runtime``): sim, process, runc / crun."""
