"""Running processes: the sandbox (bubblewrap), commands with a minimal environment, the reaper."""
