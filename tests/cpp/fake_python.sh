#!/bin/sh
# A fake Python interpreter for the local target's C++ tests: runs the fake
# scoring server with the argv LocalClient gives `python` (-m uvicorn ...).
exec python3 "$(dirname "$0")/../servers/fake_scoring_server.py" "$@"
