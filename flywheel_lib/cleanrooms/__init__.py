"""Clean Rooms operations: plan against what exists, then apply (see ARCHITECTURE.md)."""
