"""The workspace server: REST API, scheduler and watchdog over one workspace folder."""
