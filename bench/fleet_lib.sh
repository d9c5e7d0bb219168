# The start shared by bench_fleet.sh and bench_fleet_sync.sh.  Source it
# from the top of the checkout, then:
#   fleet_bench_start NAME FILE...
# Each FILE must be an executable (else "NAME: FILE missing" and exit 2);
# without etcd, etcdctl or openssl, a "NAME: skipped" line and exit 0.
# Then $T (a fresh directory /tmp/NAME.XXXXXX), a 3-member etcd with TLS
# and authentication on free loopback ports (tests/etcd/lib.sh), and the
# fleet configurations $T/admin.conf (etcd user root) and $T/host.conf
# (the read-only host1).  At exit, or on INT/TERM, `cleanup` stops the
# processes whose pids the script put in $AGENTS, then etcd, and removes
# $T.
. tests/etcd/lib.sh
AGENTS=
cleanup() {
	for p in $AGENTS; do kill "$p" 2>/dev/null; done
	for p in $AGENTS; do wait "$p" 2>/dev/null; done
	etcd_cleanup
	rm -rf "$T"
}
fleet_bench_start() {
	_bn=$1; shift
	for f in "$@"; do
		[ -x "$f" ] || { echo "$_bn: $f missing (make bench-bins)"; exit 2; }
	done
	if ! etcd_available || ! command -v openssl >/dev/null 2>&1; then
		echo "$_bn: skipped: etcd, etcdctl or openssl not installed (make deps)"
		exit 0
	fi
	T=$(mktemp -d "/tmp/$_bn.XXXXXX") || exit 2
	etcd_cluster_start --tls --auth ||
	    { echo "$_bn: etcd did not start"; cleanup; exit 2; }
	trap cleanup EXIT
	trap 'cleanup; exit 130' INT TERM
	etcd_conf "$T/admin.conf" root client
	etcd_conf "$T/host.conf" host1 host1
}
