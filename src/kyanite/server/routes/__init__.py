"""REST routes of the workspace server, one module per resource family."""
