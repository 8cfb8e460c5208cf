# Sourced by the scripts: every step says what it is doing and how long it took, and a long build shows
# its progress, so that a slow step can be told from a hang.

# step "what" command args...: runs the command; prints the step's name, then its duration.
step() {
  local what=$1 start=$SECONDS
  shift
  echo "== $what"
  "$@"
  echo "   ($what: $((SECONDS - start)) s)"
}

# quietly LOG command args...: runs the command with its output in LOG and shows only the lines of
# progress in it (ninja's "[12/40] Building ..." at each tenth of the way, pip's "Collecting ..."/
# "Installing ..."), one a line;
# when the command fails, the end of LOG follows, where the error is.
quietly() {
  local log=$1 rc=0
  shift
  mkdir -p "$(dirname "$log")"
  "$@" >"$log" 2>&1 &
  local pid=$!
  tail -n +1 -F --pid=$pid "$log" 2>/dev/null | awk '
    match($0, /^[ \t]*\[[0-9]+\/[0-9]+\]/) {      # ninja: a line at each tenth of the way, and the last
      split(substr($0, RSTART, RLENGTH), f, /[^0-9]+/); n = f[2]; total = f[3]
      if (int(n * 10 / total) != shown || n == total) { shown = int(n * 10 / total); sub(/^[ \t]*/, ""); print "   " substr($0, 1, 140); fflush() }
      next }
    /^(Collecting|Building wheel for|Successfully|Installing collected) / { print "   " substr($0, 1, 140); fflush() }' || true
  wait $pid || rc=$?
  if [ $rc -ne 0 ]; then
    echo "   failed (exit $rc); the end of $log:"
    tail -n 60 "$log" | sed 's/^/   | /'
  fi
  return $rc
}
