"""Pure call-center machines (Sans-I/O). Nothing here imports pykka, aioari, websockets,
duckdb or prometheus_client: machines take typed events in and hand typed commands out."""
