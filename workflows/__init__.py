"""Entry points for `luigi --module workflows.<name> <Task>`: wrapper tasks, no stage logic."""
