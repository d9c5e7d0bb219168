# A private 3-member etcd cluster for tests.  Source it, then:
#
#   etcd_available                  0 if etcd and etcdctl are installed
#   etcd_cluster_start [--tls] [--auth]
#                                   3 members on free 127.0.0.1 ports, data
#                                   under a fresh temporary directory; waits
#                                   until every member is healthy.  Sets
#                                   ETCD_DIR, ETCD_ENDPOINTS (comma list) and
#                                   ETCD_EP1..3.  --tls: a CA, server and
#                                   client certificates made now with openssl
#                                   (client certificates carry no CommonName:
#                                   the JSON gateway refuses those; identity
#                                   is in the SAN), in $ETCD_DIR/pki.
#                                   --auth (JWT tokens): user root (password in
#                                   $ETCD_DIR/root.pw), role "reader" (read
#                                   only on $ETCD_PREFIX) and user "host1"
#                                   with that role (password in
#                                   $ETCD_DIR/host1.pw), then auth enable.
#                                   --auth-simple: the same with etcd's
#                                   default "simple" tokens, which expire
#                                   after 2 s unused (--auth-token-ttl 2).
#   etcd_ctl ARGS...                etcdctl against the cluster (as root when
#                                   auth is on)
#   etcd_wait_healthy [SECONDS]     every running member answers health
#   etcd_leader                     prints the leader's member number (1-3)
#   etcd_kill N | etcd_stop N | etcd_restart N
#                                   SIGKILL / SIGTERM (and wait) / start again
#                                   (the same data directory, state existing)
#   etcd_revision                   prints the cluster's current revision
#   etcd_compact REV                compacts history up to REV
#   etcd_conf FILE USER CERT [LINE...]
#                                   an appuser fleet configuration (mode
#                                   0600) for a --tls --auth cluster: etcd
#                                   user USER (its password in
#                                   $ETCD_DIR/USER.pw) with the client
#                                   certificate CERT ($ETCD_DIR/pki/CERT.crt
#                                   and .key); each LINE added at the end
#   etcd_cleanup                    stops every member this file started and
#                                   removes $ETCD_DIR (installed as an EXIT
#                                   trap by etcd_cluster_start; a caller that
#                                   sets its own EXIT trap must call it)
#
# ETCD_TMP (default /tmp): where $ETCD_DIR is made.
# ETCD_CLIENT_IPS (default 127.0.0.1): the addresses members also serve
# clients on, for clients in other network namespaces (make demo-fleet);
# they go into the server certificate too.  Members advertise 127.0.0.1.
#
# It never touches the packaged etcd service, /etc/default/etcd or
# /var/lib/etcd: every member gets explicit flags and its own directory, and
# only the pids recorded here are ever signalled.

ETCD_PREFIX=${ETCD_PREFIX:-/appuser/}
ETCD_DIR= ETCD_ENDPOINTS= ETCD_TLS=0 ETCD_AUTH=0 _ETCD_AUTH_ON=0

etcd_available() {
	command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1
}

# _etcd_free_ports N: N distinct free TCP ports on 127.0.0.1, one a line.
# The kernel picks them (bind to port 0); they are released before etcd
# binds them, so a collision is possible but rare; start retries once.
_etcd_free_ports() {
	python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
' "$1"
}

_etcd_pki() {
	_p=$ETCD_DIR/pki
	mkdir -p "$_p" && chmod 700 "$_p" || return 1
	(
	cd "$_p" || exit 1
	ossl() { openssl "$@" >>openssl.log 2>&1 || { cat openssl.log >&2; exit 1; }; }
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.crt -days 2 -subj "/O=appuser test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
	# name SAN EKU: a leaf certificate without a CommonName
	leaf() {
		ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$1.key" -out "$1.csr" -subj "/O=appuser test"
		printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=critical,%s\n' \
			"$3" "$2" >"$1.ext"
		ossl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
			-CAcreateserial -days 2 -out "$1.crt" -extfile "$1.ext"
	}
	_san="IP:127.0.0.1,DNS:localhost"
	for _ip in $ETCD_CLIENT_IPS; do
		[ "$_ip" = 127.0.0.1 ] || _san="$_san,IP:$_ip"
	done
	leaf server "$_san" "serverAuth,clientAuth"
	leaf client "DNS:admin.appuser.test" "clientAuth"
	leaf host1 "DNS:host1.appuser.test" "clientAuth"
	chmod 600 ./*.key
	)
}

# JWT tokens (not the default "simple" ones): a JWT carries the auth store
# revision, so adding any user makes every issued token fail with "revision
# of auth store is old", on reads too, which the tests rely on.  Simple
# tokens only fail that way on writes that race the change, and are lost
# when a member restarts ("invalid auth token").
_etcd_jwt_keys() {
	_j=$ETCD_DIR/jwt
	mkdir -p "$_j" && chmod 700 "$_j" &&
	openssl ecparam -name prime256v1 -genkey -noout -out "$_j/jwt.key" \
		>/dev/null 2>&1 &&
	openssl ec -in "$_j/jwt.key" -pubout -out "$_j/jwt.pub" >/dev/null 2>&1
}

# _etcd_member_start N STATE: starts member N in the background
_etcd_member_start() {
	_en=$1 _st=$2 _sch=http _tls=""
	eval "_cp=\$_ETCD_CPORT$_en _pp=\$_ETCD_PPORT$_en"
	if [ "$ETCD_TLS" = 1 ]; then
		_sch=https _k=$ETCD_DIR/pki
		_tls="--cert-file $_k/server.crt --key-file $_k/server.key
		      --trusted-ca-file $_k/ca.crt --client-cert-auth
		      --peer-cert-file $_k/server.crt --peer-key-file $_k/server.key
		      --peer-trusted-ca-file $_k/ca.crt --peer-client-cert-auth"
	fi
	[ "$_ETCD_SIMPLE" = 1 ] && _tls="$_tls --auth-token-ttl 2"
	[ "$ETCD_AUTH" = 1 ] && [ "$_ETCD_SIMPLE" != 1 ] && _tls="$_tls --auth-token jwt,pub-key=$ETCD_DIR/jwt/jwt.pub,priv-key=$ETCD_DIR/jwt/jwt.key,sign-method=ES256,ttl=10m"
	# shellcheck disable=SC2086
	_lc="$_sch://127.0.0.1:$_cp"
	for _ip in $ETCD_CLIENT_IPS; do
		[ "$_ip" = 127.0.0.1 ] || _lc="$_lc,$_sch://$_ip:$_cp"
	done
	etcd --name "m$_en" --data-dir "$ETCD_DIR/m$_en.data" \
		--listen-client-urls "$_lc" \
		--advertise-client-urls "$_sch://127.0.0.1:$_cp" \
		--listen-peer-urls "$_sch://127.0.0.1:$_pp" \
		--initial-advertise-peer-urls "$_sch://127.0.0.1:$_pp" \
		--initial-cluster "$_ETCD_CLUSTER" \
		--initial-cluster-token "$_ETCD_TOKEN" \
		--initial-cluster-state "$_st" \
		--experimental-watch-progress-notify-interval 1s \
		--logger zap --log-outputs "$ETCD_DIR/m$_en.log" \
		$_tls </dev/null >>"$ETCD_DIR/m$_en.out" 2>&1 &
	eval "_ETCD_PID$_en=$!"
	echo $! >"$ETCD_DIR/m$_en.pid"
}

etcd_ctl() {
	_a=""
	[ "$ETCD_TLS" = 1 ] && _a="--cacert $ETCD_DIR/pki/ca.crt --cert $ETCD_DIR/pki/client.crt --key $ETCD_DIR/pki/client.key"
	[ "$_ETCD_AUTH_ON" = 1 ] && _a="$_a --user root:$(cat "$ETCD_DIR/root.pw")"
	# shellcheck disable=SC2086
	ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" --command-timeout 5s \
		--dial-timeout 2s $_a "$@"
}

etcd_wait_healthy() {
	_until=$(($(date +%s) + ${1:-20}))
	while :; do
		_eps=""
		for _i in 1 2 3; do
			eval "_pid=\$_ETCD_PID$_i"
			[ -n "$_pid" ] && _eps="$_eps${_eps:+,}$(eval echo "\$ETCD_EP$_i")"
		done
		_all=$ETCD_ENDPOINTS ETCD_ENDPOINTS=$_eps
		if [ -n "$_eps" ] && etcd_ctl endpoint health >/dev/null 2>&1; then
			ETCD_ENDPOINTS=$_all; return 0
		fi
		ETCD_ENDPOINTS=$_all
		if [ "$(date +%s)" -ge "$_until" ]; then
			echo "# etcd not healthy after ${1:-20}s; logs in $ETCD_DIR" >&2
			tail -n 5 "$ETCD_DIR"/m*.out >&2 2>/dev/null
			return 1
		fi
		sleep 0.2
	done
}

etcd_cluster_start() {
	ETCD_TLS=0 ETCD_AUTH=0 _ETCD_AUTH_ON=0 _ETCD_SIMPLE=0
	for _o; do
		case $_o in
		--tls) ETCD_TLS=1;;
		--auth) ETCD_AUTH=1;;
		--auth-simple) ETCD_AUTH=1 _ETCD_SIMPLE=1;;
		*) echo "etcd_cluster_start: unknown option $_o" >&2; return 2;;
		esac
	done
	ETCD_DIR=$(mktemp -d "${ETCD_TMP:-/tmp}/appuser-etcd.XXXXXX") || return 2
	trap 'etcd_cleanup' EXIT
	trap 'etcd_cleanup; exit 130' INT TERM
	if [ "$ETCD_TLS" = 1 ]; then _etcd_pki || return 2; fi
	if [ "$ETCD_AUTH" = 1 ]; then _etcd_jwt_keys || return 2; fi
	for _try in 1 2; do
		# shellcheck disable=SC2046
		set -- $(_etcd_free_ports 6)
		_ETCD_CPORT1=$1 _ETCD_CPORT2=$2 _ETCD_CPORT3=$3
		_ETCD_PPORT1=$4 _ETCD_PPORT2=$5 _ETCD_PPORT3=$6
		_sch=http; [ "$ETCD_TLS" = 1 ] && _sch=https
		ETCD_EP1=$_sch://127.0.0.1:$1 ETCD_EP2=$_sch://127.0.0.1:$2 ETCD_EP3=$_sch://127.0.0.1:$3
		ETCD_ENDPOINTS=$ETCD_EP1,$ETCD_EP2,$ETCD_EP3
		_ETCD_CLUSTER="m1=$_sch://127.0.0.1:$4,m2=$_sch://127.0.0.1:$5,m3=$_sch://127.0.0.1:$6"
		_ETCD_TOKEN=appuser-test-$$-$_try
		for _i in 1 2 3; do _etcd_member_start "$_i" new; done
		etcd_wait_healthy 20 && break
		for _i in 1 2 3; do etcd_kill "$_i"; rm -rf "$ETCD_DIR/m$_i.data"; done
		[ "$_try" = 2 ] && return 2
	done
	if [ "$ETCD_AUTH" = 1 ]; then
		(umask 077
		 head -c 18 /dev/urandom | base64 >"$ETCD_DIR/root.pw"
		 head -c 18 /dev/urandom | base64 >"$ETCD_DIR/host1.pw") || return 2
		{ etcd_ctl user add root --new-user-password="$(cat "$ETCD_DIR/root.pw")" &&
		  etcd_ctl role add reader &&
		  etcd_ctl role grant-permission reader read "$ETCD_PREFIX" --prefix=true &&
		  etcd_ctl user add host1 --new-user-password="$(cat "$ETCD_DIR/host1.pw")" &&
		  etcd_ctl user grant-role host1 reader &&
		  etcd_ctl auth enable; } >"$ETCD_DIR/auth.log" 2>&1 ||
			{ cat "$ETCD_DIR/auth.log" >&2; return 2; }
		_ETCD_AUTH_ON=1
	fi
	return 0
}

etcd_leader() {
	etcd_ctl endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
eps = sys.argv[1].split(",")
for st in json.load(sys.stdin):
    s = st["Status"]
    if s["leader"] == s["header"]["member_id"]:
        print(eps.index(st["Endpoint"]) + 1)
        break
' "$ETCD_EP1,$ETCD_EP2,$ETCD_EP3"
}

etcd_kill() {
	eval "_pid=\$_ETCD_PID$1"
	[ -n "$_pid" ] || return 0
	kill -9 "$_pid" 2>/dev/null
	wait "$_pid" 2>/dev/null
	eval "_ETCD_PID$1="
}

etcd_stop() {
	eval "_pid=\$_ETCD_PID$1"
	[ -n "$_pid" ] || return 0
	kill -TERM "$_pid" 2>/dev/null
	_w=0
	while kill -0 "$_pid" 2>/dev/null && [ "$_w" -lt 50 ]; do sleep 0.1; _w=$((_w + 1)); done
	kill -9 "$_pid" 2>/dev/null
	wait "$_pid" 2>/dev/null
	eval "_ETCD_PID$1="
}

etcd_restart() {
	eval "_pid=\$_ETCD_PID$1"
	[ -z "$_pid" ] || etcd_stop "$1"
	_etcd_member_start "$1" existing
}

etcd_revision() {
	etcd_ctl endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
print(max(int(st["Status"]["header"]["revision"]) for st in json.load(sys.stdin)))'
}

etcd_compact() {
	etcd_ctl compact "$1" >/dev/null
}

etcd_conf() {
	_cf=$1 _cu=$2 _cc=$ETCD_DIR/pki/$3; shift 3
	: >"$_cf" && chmod 0600 "$_cf" || return 1
	{
		printf 'endpoints = %s\ncacert = %s\n' "$ETCD_ENDPOINTS" \
		    "$ETCD_DIR/pki/ca.crt"
		printf 'cert = %s\nkey = %s\n' "$_cc.crt" "$_cc.key"
		printf 'user = %s\npassword_file = %s\n' "$_cu" \
		    "$ETCD_DIR/$_cu.pw"
		for _cl in "$@"; do printf '%s\n' "$_cl"; done
	} >"$_cf"
}

etcd_cleanup() {
	for _i in 1 2 3; do etcd_kill "$_i"; done
	case $ETCD_DIR in
	*/appuser-etcd.*) rm -rf "$ETCD_DIR";;
	esac
	ETCD_DIR=
}
