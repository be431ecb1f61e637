#!/usr/bin/env bash
# Installs what Cairn's build and tests need on a fresh Debian machine, and
# only what is missing: Debian packages with apt-get. Idempotent.
set -euo pipefail

need_go="1.26"
if ! command -v go >/dev/null 2>&1; then
	echo "deps: Go $need_go or newer is needed (Debian's golang package is too old); install it and run again" >&2
	exit 1
fi

# Debian packages by the command or file that shows they are there.
# (Later tiers add libxml2-dev, libxslt1-dev …)
declare -A packages=(
	[gcc]=gcc            # cgo, used by go test -race
	[curl]=curl          # used by scripts/run-demo.sh to wait for readiness
	[chromium]=chromium  # renders cairn-bench's HTML report in the tests
)
missing=()
for cmd in "${!packages[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
# The Python ZODB/ZEO clients for the object store tests live in a venv.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3 python3-venv)
for pkg in "$@"; do # extra packages named by the caller (make bench)
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
