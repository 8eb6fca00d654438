#!/bin/bash
# Stops what scripts/rgw/start.sh started (radosgw, OSD, monitor), by the pids in its state dir: SIGTERM,
# up to 10 s grace, then SIGKILL. Safe to run when nothing is running. Leaves the state dir (logs) behind.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
D=${RGW_DIR:-$REPO/.rgw}

pid_of() { [ -f "$D/$1.pid" ] && cat "$D/$1.pid"; }
alive() { local p; p=$(pid_of "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

for p in rgw osd mon; do alive $p && kill "$(pid_of $p)" 2>/dev/null; done
for _ in $(seq 50); do
  any=0
  for p in rgw osd mon; do alive $p && any=1; done
  [ $any = 0 ] && break
  sleep 0.2
done
for p in rgw osd mon; do alive $p && kill -9 "$(pid_of $p)" 2>/dev/null; done
for p in rgw osd mon; do rm -f "$D/$p.pid"; done
echo "rgw stop: stopped"
exit 0
