#!/usr/bin/env bash
# `make run`: runs what exists of the stack on the default site (site.toml).
# Today that is the frontend, the object store, and a real Zope 6 instance
# (from the project venv) as the seed's debug instance: the ZMI under
# /zmi-admin/, its database a ZEO client storage on the object store, blobs
# shared. The demo origin (a Zope stand-in) listens at the cache's address in
# place of the tiers not built yet (cache, transform, balancer) and of the
# Plone site behind them. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
site=${SITE:-site.toml}
scripts/pyenv.sh

# The debug instance's home, made once: zope.conf on the object store (the
# addresses of site.toml's defaults, whatever SITE says: remove
# var/zope-debug to make it again), waitress on the debug port, and an
# admin user whose password is made here and kept in the instance folder.
zope=var/zope-debug
if [ ! -f "$zope/zope.ini" ]; then
	mkdir -p "$zope" var/blobstorage
	home="$(cd "$zope" && pwd)"
	blobs="$(cd var/blobstorage && pwd)"
	cat >"$zope/zope.conf" <<CONF
%define INSTANCE $home
instancehome \$INSTANCE
%import ZEO
<zodb_db main>
  <zeoclient>
    server 127.0.0.1:8501
    storage 1
    name main
    blob-dir $blobs
    shared-blob-dir on
  </zeoclient>
  mount-point /
</zodb_db>
CONF
	cat >"$zope/zope.ini" <<INI
[app:zope]
use = egg:Zope#main
zope_conf = $home/zope.conf

[pipeline:main]
pipeline =
    egg:Zope#httpexceptions
    zope

[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = 8499
INI
	(umask 077; head -c 12 /dev/urandom | base64 | tr -d '/+=' >"$zope/admin-password")
	echo "admin:$(cat "$zope/admin-password")" >"$zope/inituser" # read (and removed) by Zope at its first start
fi

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "make run: the frontend, the object store and a Zope debug instance; a demo upstream stands in for cache → … → Plone"
mkdir -p var
bin/cairn-objectstore -config "$site" -admin 127.0.0.1:9104 &
pids+=($!)
for _ in $(seq 50); do
	curl -fsS -o /dev/null http://127.0.0.1:9104/healthz 2>/dev/null && break
	sleep 0.1
done
.venv/bin/runwsgi "$zope/zope.ini" >>"$zope/zope.log" 2>&1 &
pids+=($!)
bin/cairn-bench origin -listen 127.0.0.1:8101 -name demo-plone &
pids+=($!)
bin/cairn-frontend -config "$site" -admin 127.0.0.1:9100 &
pids+=($!)

for _ in $(seq 50); do
	curl -fsS -o /dev/null http://127.0.0.1:9100/healthz 2>/dev/null && break
	sleep 0.1
done
for _ in $(seq 300); do # Zope takes a few seconds to start
	curl -fsS -o /dev/null http://127.0.0.1:8499/ 2>/dev/null && break
	sleep 0.1
done
echo
echo "  site:     http://127.0.0.1:8000/        (proxied with the VirtualHostMonster rewrite)"
echo "  ZMI:      http://127.0.0.1:8000/zmi-admin/manage_main  (Zope, user admin, password in $zope/admin-password; log $zope/zope.log)"
echo "  admin:    http://127.0.0.1:9100/metrics  /healthz  /debug/pprof/  (frontend)"
echo "  ZEO:      127.0.0.1:8501, storage \"1\", blobs in var/blobstorage; admin http://127.0.0.1:9104/metrics"
echo
curl -fsS http://127.0.0.1:8000/ | sed -n 's/.*reached it as <code>\(.*\)<\/code>.*/  GET \/ reached the upstream as \1/p' || true
echo "  GET /zmi-admin/ URLs from Zope: $(curl -fsS http://127.0.0.1:8000/zmi-admin/absolute_url || echo '(no answer)')"
echo "Ctrl-C to stop."
wait -n "${pids[@]}"
