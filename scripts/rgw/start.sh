#!/bin/bash
# Starts a loopback-only S3 server for the S3 tests: a single-node Ceph Pacific micro-cluster (1 monitor,
# 1 in-memory "memstore" OSD, no manager) plus the RADOS Gateway on 127.0.0.1:$RGW_PORT, then creates the
# S3 user TESTKEY/TESTSECRET and the bucket $RGW_BUCKET. Why radosgw: see docs/design/s3-object-store.md.
#
# State (config, pids, logs; the data lives in memory) goes to $RGW_DIR, default <repo>/.rgw, which is wiped
# on every start. Stop with scripts/rgw/stop.sh. Exits non-zero, with the relevant log tail, if any step
# fails. Ports: 40300/40789 (mon), 6800-6807 (osd), $RGW_PORT (rgw).
#
# Environment: RGW_DIR, RGW_PORT (7480), RGW_BUCKET (shale-test), RGW_ACCESS_KEY (TESTKEY),
# RGW_SECRET_KEY (TESTSECRET), RGW_MEMSTORE_BYTES (4 GiB: the OSD's in-memory device, allocated as used).
#
# Deleted objects: radosgw frees the data of a deleted object in its garbage collector, by default two
# hours later; with a memstore that fills up, and a full OSD makes every request hang. Here the collector
# frees deleted data within seconds, so repeated benchmark runs and test suites on one server do not fill it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
D=${RGW_DIR:-$REPO/.rgw}
RGW_PORT=${RGW_PORT:-7480}
BUCKET=${RGW_BUCKET:-shale-test}
ACCESS_KEY=${RGW_ACCESS_KEY:-TESTKEY}
SECRET_KEY=${RGW_SECRET_KEY:-TESTSECRET}
URL=http://127.0.0.1:$RGW_PORT

fail() {
  echo "rgw start: FAILED: $*" >&2
  for f in "$D"/log/{mon-mkfs.out,mon.out,osd-mkfs.out,osd.out,rgw.out,user.out,bucket.out}; do
    [ -s "$f" ] || continue
    echo "----- tail $f" >&2
    tail -n 15 "$f" >&2
    echo >&2
  done
  echo "(full logs: $D/log)" >&2
  "$HERE/stop.sh" >/dev/null 2>&1 || true
  exit 1
}
trap 'fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

for t in ceph ceph-mon ceph-osd ceph-authtool monmaptool radosgw radosgw-admin uuidgen curl; do
  command -v "$t" >/dev/null 2>&1 || { echo "rgw start: FAILED: $t not found; run scripts/rgw/install.sh" >&2; exit 1; }
done
case "$D" in "" | "/") echo "rgw start: FAILED: refusing RGW_DIR='$D'" >&2; exit 1 ;; esac

# A previous instance from this state dir is stopped first; anything else on the port is an error.
[ -d "$D" ] && "$HERE/stop.sh" >/dev/null 2>&1 || true
if curl -s -o /dev/null -m 1 "$URL/"; then
  echo "rgw start: FAILED: something already listens on $URL (another radosgw? run scripts/rgw/stop.sh)" >&2
  exit 1
fi

rm -rf "$D"
mkdir -p "$D"/{mon,osd0,run,log}
FSID=$(uuidgen)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:40300,v1:127.0.0.1:40789]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
ms mon client mode = crc
ms client mode = crc
ms mon service mode = crc
ms service mode = crc
ms mon cluster mode = crc
ms cluster mode = crc
auth cluster required = none
auth service required = none
auth client required = none
keyring = $D/keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail warn = 1
mon data avail crit = 0
[mon]
mon data = $D/mon
[osd]
osd data = $D/osd0
osd objectstore = memstore
memstore device bytes = ${RGW_MEMSTORE_BYTES:-4294967296}
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw enable usage log = false
rgw gc obj min wait = 0
rgw gc processor period = 5
rgw dns name = localhost
CONF

ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
monmaptool --create --fsid "$FSID" --addv a '[v2:127.0.0.1:40300,v1:127.0.0.1:40789]' "$D/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$D/monmap" -c "$D/ceph.conf" --keyring "$D/keyring" > "$D/log/mon-mkfs.out" 2>&1
setsid ceph-mon -f -i a -c "$D/ceph.conf" > "$D/log/mon.out" 2>&1 < /dev/null &
echo $! > "$D/mon.pid"

C=(timeout 30 ceph -c "$D/ceph.conf" --connect-timeout 10)
up=0
for _ in $(seq 100); do "${C[@]}" mon stat >/dev/null 2>&1 && { up=1; break; }; sleep 0.2; done
[ $up = 1 ] || fail "ceph-mon did not come up"
echo "rgw start: mon up at ${SECONDS}s"

OSDUUID=$(uuidgen)
OSDID=$("${C[@]}" osd new "$OSDUUID")
ceph-osd -i "$OSDID" --mkfs --osd-uuid "$OSDUUID" -c "$D/ceph.conf" > "$D/log/osd-mkfs.out" 2>&1
setsid ceph-osd -f -i "$OSDID" -c "$D/ceph.conf" > "$D/log/osd.out" 2>&1 < /dev/null &
echo $! > "$D/osd.pid"
up=0
for _ in $(seq 300); do "${C[@]}" osd stat 2>/dev/null | grep -q ": 1 up" && { up=1; break; }; sleep 0.2; done
[ $up = 1 ] || fail "ceph-osd did not come up"
echo "rgw start: osd up at ${SECONDS}s"

setsid radosgw -f -c "$D/ceph.conf" -n client.rgw > "$D/log/rgw.out" 2>&1 < /dev/null &
echo $! > "$D/rgw.pid"
up=0
for _ in $(seq 450); do
  kill -0 "$(cat "$D/rgw.pid")" 2>/dev/null || fail "radosgw exited"
  curl -s -o /dev/null -m 1 "$URL/" && { up=1; break; }
  sleep 0.2
done
[ $up = 1 ] || fail "radosgw did not answer on $URL"
echo "rgw start: radosgw up at ${SECONDS}s"

timeout 60 radosgw-admin -c "$D/ceph.conf" user create --uid=test --display-name=test \
  --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" > "$D/log/user.out" 2>&1 || fail "radosgw-admin user create failed"

# CreateBucket, signed with SigV4 by curl (rgw insists on a signed x-amz-content-sha256, here the hash of
# the empty body). The first one creates rgw's data pools, so it can take a few seconds; 200 (created) or
# 409 BucketAlreadyOwnedByYou both mean the bucket is there.
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
S3CURL=(curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" -H "x-amz-content-sha256: $EMPTY_SHA256")
created=0
for _ in $(seq 30); do
  code=$("${S3CURL[@]}" -o "$D/log/bucket.out" -w '%{http_code}' -m 20 -X PUT "$URL/$BUCKET" || true)
  if [ "$code" = 200 ] || { [ "$code" = 409 ] && grep -q BucketAlreadyOwnedByYou "$D/log/bucket.out"; }; then
    created=1; break
  fi
  sleep 1
done
[ $created = 1 ] || fail "could not create bucket $BUCKET (last HTTP status ${code:-none})"
code=$("${S3CURL[@]}" -o /dev/null -w '%{http_code}' -m 10 "$URL/$BUCKET?list-type=2" || true)
[ "$code" = 200 ] || fail "bucket $BUCKET is not listable (HTTP $code)"

echo "rgw start: ready at ${SECONDS}s: endpoint $URL bucket $BUCKET key $ACCESS_KEY" \
  "(pids mon=$(cat "$D/mon.pid") osd=$(cat "$D/osd.pid") rgw=$(cat "$D/rgw.pid"); state $D)"
