#!/bin/sh
# man/pam_appuser.8: the sections Linux-PAM's own pages have, every option
# the module parses is documented, and groff has nothing to warn about.
. "$(dirname "$0")/lib.sh"
M=$TOP/man/pam_appuser.8
missing=
for s in NAME SYNOPSIS DESCRIPTION OPTIONS "MODULE TYPES PROVIDED" \
    "RETURN VALUES" EXAMPLES FILES "SEE ALSO"; do
	grep -q "^\.SH $s\$" "$M" || missing="$missing [$s]"
done
if [ -z "$missing" ]; then ok "all sections present"
else not_ok "sections" "missing:$missing"; fi

# the option names set_option() accepts, from the source
opts=$(grep -oE '(match_key\(arg, "[a-z_]+"\)|strcmp\(arg, "[a-z_]+"\))' \
    "$TOP/pam_appuser/options.c" | grep -oE '"[a-z_]+"' | tr -d '"')
undoc=
for o in $opts; do
	grep -qE "^\.(B|BI|TP|BR) *\"?$o" "$M" || undoc="$undoc $o"
done
if [ -n "$opts" ] && [ -z "$undoc" ]; then ok "every option documented ($(echo $opts | wc -w))"
else not_ok "options documented" "undocumented:$undoc"; fi

if command -v groff >/dev/null 2>&1; then
	w=$(groff -man -Tutf8 -ww -z "$M" 2>&1)
	if [ -z "$w" ]; then ok "groff -ww: no warnings"
	else not_ok "groff warnings" "$w"; fi
else
	skip "groff -ww" "groff not installed"
fi
done_testing
