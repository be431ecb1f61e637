#!/usr/bin/env bash
# `make run`: runs what exists of the stack on the default site (site.toml).
# Today that is the frontend and the object store (a ZEO server that Zope
# instances can use); the demo origin (a Zope stand-in) listens at the
# cache's and the debug instance's addresses in place of the tiers that are
# not built yet. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
site=${SITE:-site.toml}

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "make run: the frontend and the object store exist so far; a demo upstream stands in for cache → … → Zope"
mkdir -p var
bin/cairn-objectstore -config "$site" -admin 127.0.0.1:9104 &
pids+=($!)
bin/cairn-bench origin -listen 127.0.0.1:8101 -name demo-plone &
pids+=($!)
bin/cairn-bench origin -listen 127.0.0.1:8499 -name demo-debug &
pids+=($!)
bin/cairn-frontend -config "$site" -admin 127.0.0.1:9100 &
pids+=($!)

for _ in $(seq 50); do
	curl -fsS -o /dev/null http://127.0.0.1:9100/healthz 2>/dev/null && break
	sleep 0.1
done
echo
echo "  site:     http://127.0.0.1:8000/        (proxied with the VirtualHostMonster rewrite)"
echo "  ZMI:      http://127.0.0.1:8000/zmi-admin/"
echo "  admin:    http://127.0.0.1:9100/metrics  /healthz  /debug/pprof/  (frontend)"
echo "  ZEO:      127.0.0.1:8501, storage \"1\", blobs in var/blobstorage; admin http://127.0.0.1:9104/metrics"
echo
curl -fsS http://127.0.0.1:8000/ | sed -n 's/.*reached it as <code>\(.*\)<\/code>.*/  GET \/ reached the upstream as \1/p' || true
echo "Ctrl-C to stop."
wait -n "${pids[@]}"
