"""Results as text for people: the plan, reconcile, resign, verify and status reports the CLI
prints and the demo tells. Pure functions of the result objects; no IO."""
