#!/bin/sh
# The etcd client (admin/etcd.c) against a real 3-member etcd cluster that
# this script starts on free loopback ports (tests/etcd/lib.sh) and stops:
# put/range/txn, paging, watch, compaction, the leader killed (-9) during
# a loop of guarded txns, every member down, then TLS + auth with a
# read-only host user and a token invalidated by adding a user.
# $B/tests/etcd/test_etcd does the client side, one mode at a time.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/etcd/lib.sh"

BIN=$B/tests/etcd/test_etcd
if ! etcd_available; then
	skip "etcd client against a real cluster" \
	    "etcd and etcdctl are not installed (make deps: etcd-server etcd-client)"
	done_testing; exit 0
fi
if [ ! -x "$BIN" ]; then
	not_ok "${APPUSER_BUILD:-build}/tests/etcd/test_etcd exists" "run make test-bins first"
	done_testing; exit 1
fi
if ! command -v openssl >/dev/null 2>&1; then
	not_ok "openssl is installed" "make deps"
	done_testing; exit 1
fi

T=$(mktemp -d /tmp/appuser-t-etcd.XXXXXX) || exit 2
cleanup() { etcd_cleanup; rm -rf "$T"; }

# mode ARGS...: runs test_etcd, renumbers its "ok - x" lines as ours
mode() {
	ETCD_ENDPOINTS=$ETCD_ENDPOINTS "$BIN" "$@" >"$T/mode.out" 2>"$T/mode.err"
	_mrc=$? _mfail=0
	while IFS= read -r _l; do
		case $_l in
		"ok - "*) ok "${_l#ok - }";;
		"not ok - "*) _n=$((_n + 1)); _failed=$((_failed + 1)); _mfail=1
			echo "not ok $_n - ${_l#not ok - }";;
		*) echo "$_l";;
		esac
	done <"$T/mode.out"
	sed 's/^/#   stderr: /' "$T/mode.err"
	if [ "$_mrc" -ne 0 ] && [ "$_mfail" = 0 ]; then
		not_ok "test_etcd $1 exited $_mrc"
	fi
}

start=$(date +%s)

# --- strict parsing, against a fake gateway --------------------------------
python3 "$TOP/tests/etcd/fake_gateway.py" >"$T/fake.port" 2>"$T/fake.err" &
fake=$!
i=0
while [ ! -s "$T/fake.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ETCD_ENDPOINTS=http://127.0.0.1:$(cat "$T/fake.port") mode strict
kill "$fake" 2>/dev/null; wait "$fake" 2>/dev/null

# --- a plain cluster --------------------------------------------------------
if ! etcd_cluster_start; then
	not_ok "a 3-member etcd cluster starts" "$(tail -n 20 "$ETCD_DIR"/m*.out 2>&1)"
	cleanup; done_testing; exit 1
fi
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
ok "a 3-member etcd cluster starts on free loopback ports"
export ETCD_ENDPOINTS

mode basic /t/basic/
mode bench /t/bench/ 300

# compaction: a revision before it is gone, for range and watch
rev=$(etcd_revision)
for i in 1 2 3; do etcd_ctl put "/t/c/$i" "v$i" >/dev/null; done
crev=$(etcd_revision)
if etcd_compact "$crev"; then
	ok "etcdctl compact $crev"
	mode compacted /t/c/ "$rev" "$crev"
else
	not_ok "etcdctl compact $crev"
fi

# the leader killed (-9) during two loops of guarded txns: one client
# starts on the leader, one on a follower
L=$(etcd_leader)
case $L in 1|2|3) ok "the leader is member $L";; *) not_ok "find the leader" "$L";; esac
F=$((L % 3 + 1))
eval "lead_ep=\$ETCD_EP$L fol_ep=\$ETCD_EP$F"
ETCD_IN_ORDER=1 ETCD_ENDPOINTS=$lead_ep,$ETCD_ENDPOINTS "$BIN" txnloop /t/loopA/ 300 >"$T/loopA" 2>&1 &
pa=$!
ETCD_IN_ORDER=1 ETCD_ENDPOINTS=$fol_ep,$ETCD_ENDPOINTS "$BIN" txnloop /t/loopB/ 300 >"$T/loopB" 2>&1 &
pb=$!
# kill once both loops are well under way
i=0
while [ $i -lt 100 ]; do
	a=$(etcd_ctl get --print-value-only /t/loopA/counter 2>/dev/null)
	b=$(etcd_ctl get --print-value-only /t/loopB/counter 2>/dev/null)
	[ "${a:-0}" -ge 40 ] && [ "${b:-0}" -ge 40 ] && break
	sleep 0.05; i=$((i + 1))
done
if kill -0 "$pa" 2>/dev/null && kill -0 "$pb" 2>/dev/null; then
	ok "both loops still running when the leader dies (at $a and $b)"
else
	not_ok "both loops still running when the leader dies" "they ended first"
fi
etcd_kill "$L"
wait "$pa"; ra=$?
wait "$pb"; rb=$?
for f in loopA loopB; do
	while IFS= read -r _l; do
		case $_l in
		"ok - "*) ok "$f: ${_l#ok - }";;
		"not ok - "*) not_ok "$f: ${_l#not ok - }";;
		*) echo "$_l";;
		esac
	done <"$T/$f"
done
[ "$ra" = 0 ] && [ "$rb" = 0 ] || not_ok "txnloop exit status" "$ra $rb"
etcd_restart "$L"
if etcd_wait_healthy 20; then ok "the killed member rejoins"
else not_ok "the killed member rejoins"; fi

# one member left: it has no leader
etcd_stop "$L"; etcd_stop "$F"
S=$(( 6 - L - F ))
eval "ETCD_ENDPOINTS=\$ETCD_EP$S" mode noleader
ETCD_ENDPOINTS=$ETCD_EP1,$ETCD_EP2,$ETCD_EP3

# every member down
for i in 1 2 3; do etcd_stop "$i"; done
mode down
etcd_cleanup

# --- TLS and auth -----------------------------------------------------------
if ! etcd_cluster_start --tls --auth; then
	not_ok "a TLS + auth cluster starts" "$(tail -n 20 "$ETCD_DIR"/m*.out "$ETCD_DIR"/auth.log 2>&1)"
	cleanup; done_testing; exit 1
fi
trap cleanup EXIT
ok "a TLS + auth cluster starts (client certificates without a CommonName)"
P=$ETCD_DIR/pki
umask 077
# a host: read-only etcd user
etcd_conf "$T/host.conf" host1 host1 "prefix = $ETCD_PREFIX" "host = host1"
etcd_conf "$T/root.conf" root client
adduser="ETCDCTL_API=3 etcdctl --endpoints $ETCD_ENDPOINTS --cacert $P/ca.crt --cert $P/client.crt --key $P/client.key --user root:$(cat "$ETCD_DIR/root.pw") user add u\$(od -An -N4 -tu4 /dev/urandom | tr -d ' ') --new-user-password=x >/dev/null"
mode auth "${ETCD_PREFIX}auth/" "$T/host.conf" "$T/root.conf" "$adduser"
# the gateway refuses a client certificate that has a CommonName: check
# the fact our certificates rely on
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/cn.key" \
    -out "$T/cn.csr" -subj "/CN=with-cn" >/dev/null 2>&1 &&
openssl x509 -req -in "$T/cn.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
    -CAcreateserial -days 1 -out "$T/cn.crt" >/dev/null 2>&1
out=$(curl -sS --cacert "$P/ca.crt" --cert "$T/cn.crt" --key "$T/cn.key" \
    -XPOST "$ETCD_EP1/v3/kv/range" -d '{"key":"Lw=="}' 2>&1)
has "the gateway refuses a client certificate with a CommonName" "CommonName" "$out"

etcd_cleanup

# --- simple tokens (etcd's default) expire when unused ---------------------
if ! etcd_cluster_start --auth-simple; then
	not_ok "an auth cluster with simple tokens starts" "$(cat "$ETCD_DIR"/auth.log 2>&1)"
	cleanup; done_testing; exit 1
fi
trap cleanup EXIT
cat >"$T/simple.conf" <<EOF
endpoints = $ETCD_ENDPOINTS
user = host1
password_file = $ETCD_DIR/host1.pw
EOF
mode renew "$ETCD_PREFIX" "$T/simple.conf"

elapsed=$(($(date +%s) - start))
if [ "$elapsed" -lt 90 ]; then ok "wall time ${elapsed}s (< 90 s)"
else not_ok "wall time under 90 s" "${elapsed}s"; fi
cleanup
trap - EXIT
done_testing
