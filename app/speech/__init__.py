"""Speech: what to say is decided elsewhere; this package only speaks it."""
