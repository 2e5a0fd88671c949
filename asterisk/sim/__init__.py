"""ARI simulator: Asterisk 22 ARI on the wire (REST, events WebSocket, Swagger 1.1) with
simulated phones, faults on demand and a time scale. See README.md and testing.py."""
