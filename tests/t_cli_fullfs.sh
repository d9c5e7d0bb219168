#!/bin/sh
# A full file system is reported with its real cause (issue 8, section 4):
# every write command on a store whose file system is full says "No space
# left on device" (not the ENOENT of a cleanup unlink, nor an older errno),
# changes nothing, and the store is fine once there is room again.  The
# store lives on a small tmpfs in a private mount namespace.  Needs root.
. "$(dirname "$0")/lib.sh"

if [ "$1" != --inner ]; then
	why=
	is_root || why="needs root (tmpfs in a mount namespace)"
	[ -n "$why" ] || unshare -m true 2>/dev/null ||
	    why="unshare -m not available here"
	[ -n "$why" ] || [ -x "$APPUSER" ] || why="build/appuser not built"
	if [ -n "$why" ]; then
		skip "full file system: the real cause is reported" "$why"
		done_testing
		exit 0
	fi
	unshare -m --propagation private sh "$0" --inner
	exit $?
fi

[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
    { echo "not ok - not in a private mount namespace"; exit 1; }
T=$(mktemp -d /tmp/t_cli_fullfs.XXXXXX) || exit 2
mkdir "$T/scratch" "$T/fs"
mount -t tmpfs -o mode=0755,size=16m t_cli_fullfs "$T/fs" || exit 2
S=$T/fs/store
FULL="No space left on device"
# full_rc NAME CMD...: exit 2 and the message names ENOSPC
full_rc() {
	_name=$1; shift
	rc 2 "$_name: refused" "$@"
	has "... says '$FULL'" "system error \\($FULL\\)" "$err"
	hasnt "... not a cleanup's errno" "No such file|File exists|Invalid argument" "$err"
}
T0=$T; T=$T0/scratch	# rc() keeps its files in $T
# fill [KB]: fill the store's file system, leaving KB kilobytes
fill() {
	dd if=/dev/zero of="$T0/fs/fill" bs=4k >/dev/null 2>&1
	[ -z "$1" ] || truncate -s "-${1}k" "$T0/fs/fill"
}

rc 0 "create alice" au create alice
rc 0 "create bob" au create bob
printf '{"name": "imp1"}\n{"name": "imp2"}\n' >"$T/imp.jsonl"
au --json list >"$T/before.json"
fill
full_rc "create on a full file system" au create carol
full_rc "import on a full file system" au import "$T/imp.jsonl"
full_rc "admin grant on a full file system" au admin grant alice
full_rc "delete on a full file system" au delete bob
full_rc "config set on a full file system" au config set admin-group ops
au --json list >"$T/after.json"
cmp -s "$T/before.json" "$T/after.json" && ok "nothing changed" ||
    not_ok "nothing changed" "$(diff "$T/before.json" "$T/after.json")"
rm -f "$T0/fs/fill"
rc 0 "with room again: check" au check
rc 0 "... create works" au create carol
rc 0 "... delete works" au delete bob

# a new store on a file system too small for it
rm -rf "$S"
fill 512	# room for less than a master
full_rc "a new store on a full file system" au create dave
rc 2 "... again (the half-made master is not reported as 'File exists')" \
    au create dave
has "... still '$FULL'" "$FULL" "$err"
rm -f "$T0/fs/fill"
rc 0 "with room again: the store is made" au create dave
rc 0 "... check" au check

umount "$T0/fs"
rm -rf "$T0"
done_testing
