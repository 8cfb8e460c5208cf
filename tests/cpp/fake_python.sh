#!/bin/sh
# A fake Python interpreter for the local target's C++ tests. With the argv LocalClient gives `python` for
# MLflow's scoring server (-m uvicorn ...) it runs the fake scoring server; with a program (the native
# server's worker, tests/servers/fake_serve_worker.py) it runs that program with the real python3.
case "$1" in
  -m) exec python3 "$(dirname "$0")/../servers/fake_scoring_server.py" "$@" ;;
  *) exec python3 "$@" ;;
esac
