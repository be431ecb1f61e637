// Package frontend is Cairn's front web server, the tier that replaces the
// seed's main nginx: it terminates HTTP and TLS, picks a virtual host by the
// Host header, and serves each path by the first matching route — proxied to
// an upstream (with the rewrite Zope's VirtualHostMonster expects), static
// files from a folder (nginx's alias), a redirect, or a fixed response.
//
// # Concurrency
//
// Requests run on fasthttp's worker goroutines. The compiled configuration
// (router) is immutable and read through an atomic pointer; Reload builds a
// new one and swaps it, so requests in flight finish on the configuration
// they started with. Counters are Prometheus metrics resolved per route
// when the router is compiled.
//
// # What nginx does that the frontend does differently
//
//   - Listener addresses, body and header limits and client timeouts are
//     fixed at start: a reload that changes them is refused, and the old
//     configuration stays (nginx re-binds on reload).
//   - Bodies of proxied responses are buffered whole before they are sent
//     (nginx's proxy_buffering on, without spilling to disk).
//   - Error pages replace only the frontend's own 502/503/504, not
//     upstream answers (nginx's proxy_intercept_errors off).
//   - Static files that are compressed on the fly are read into memory (up
//     to 1 MiB); there is no gzip_static.
package frontend
