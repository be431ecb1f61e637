package bench

import (
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"text/template"
)

// peerSite is what one peer tier's configuration is written from.
type peerSite struct {
	Dir     string   // the tier's work folder: configs, logs, temp files
	Listen  string   // 127.0.0.1:port the peer serves
	Origins []string // 127.0.0.1:port of each origin (Zope instance) behind it

	// Varnish.
	VarnishStorage string // -s argument, e.g. malloc,256M

	// HAProxy.
	Threads       int // nbthread
	MaxConn       int // per server, as the origin's slots
	GlobalMaxConn int // process-wide, see haproxyMaxConn

	// nginx with the XSLT filter.
	XSLTModule string // the filter's shared object
	Stylesheet string // the compiled Diazo theme
}

// Host is the first origin's host, for the VCL backend.
func (s peerSite) Host() string {
	h, _, _ := net.SplitHostPort(s.Origins[0])
	return h
}

// Port is the first origin's port, for the VCL backend.
func (s peerSite) Port() string {
	_, p, _ := net.SplitHostPort(s.Origins[0])
	return p
}

// Servers names the HAProxy servers like the seed (zope0101 …) with their
// cookie values (z0101 …).
func (s peerSite) Servers() []haproxyServer {
	out := make([]haproxyServer, len(s.Origins))
	for i, addr := range s.Origins {
		id := fmt.Sprintf("01%02d", i+1)
		out[i] = haproxyServer{Name: "zope" + id, Cookie: "z" + id, Addr: addr}
	}
	return out
}

type haproxyServer struct{ Name, Cookie, Addr string }

// varnishVCL is the seed's varnish.vcl.in (Varnish 2.x) in VCL 4.1 for
// Debian's Varnish 7.1, with the origin as its backend. Two additions,
// both marked, which every Plone VCL since has (http-cache.md §3.1, §4.3):
// requests of logged-in users (an __ac cookie or Authorization) are passed
// (the seed's VCL only labels them with X-Anonymous and still looks them
// up, so that it would serve one user's page to another), and X-Cache says
// HIT or MISS, which the suite checks before it measures.
var varnishVCL = template.Must(template.New("varnish").Parse(`vcl 4.1;
# Written by cairn-bench compare -tiers cache from the seed's varnish.vcl.in.

backend origin {
    .host = "{{.Host}}";
    .port = "{{.Port}}";
    .connect_timeout = 0.4s;
    .first_byte_timeout = 300s;
    .between_bytes_timeout = 60s;
}

acl purge {
    "localhost";
    "127.0.0.1";
}

sub annotate_request {
    if (!(req.http.Authorization || req.http.Cookie ~ "(^|.*; )__ac=")) {
        set req.http.X-Anonymous = "True";
    }
}

sub vcl_recv {
    set req.grace = 120s;
    set req.backend_hint = origin;

    if (req.method == "PURGE") {
        if (!client.ip ~ purge) {
            return (synth(405, "Not allowed."));
        }
        return (purge);
    }

    if (req.method != "GET" &&
        req.method != "HEAD" &&
        req.method != "PUT" &&
        req.method != "POST" &&
        req.method != "TRACE" &&
        req.method != "OPTIONS" &&
        req.method != "DELETE") {
        /* Non-RFC2616 or CONNECT which is weird. */
        return (pipe);
    }

    if (req.method != "GET" && req.method != "HEAD") {
        /* We only deal with GET and HEAD by default */
        return (pass);
    }

    if (req.url ~ "createObject") {
        return (pass);
    }

    call annotate_request;

    # Added: logged-in users are never served from the cache.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;\s*)__ac(|_(name|password|persistent))=") {
        return (pass);
    }

    return (hash);
}

sub vcl_backend_response {
    set beresp.grace = 120s;
    if (beresp.ttl <= 0s ||
        beresp.http.Set-Cookie ||
        beresp.http.Cache-Control ~ "(private|no-cache|no-store)" ||
        (bereq.http.Authorization && beresp.http.Cache-Control !~ "public")) {
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;
        return (deliver);
    }
}

sub vcl_deliver {
    # rewrite s-maxage so intermediary proxies don't use it
    if (resp.http.Cache-Control ~ "s-maxage") {
        set resp.http.Cache-Control = regsub(resp.http.Cache-Control, "s-maxage=[0-9]+", "s-maxage=0");
    }
    # Added: whether the answer came from the cache.
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}

sub vcl_synth {
    set resp.http.Content-Type = "text/html; charset=utf-8";
    synthetic({"<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN"
 "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html>
  <head>
    <title>"} + resp.status + " " + resp.reason + {"</title>
  </head>
  <body>
    <h1>Error "} + resp.status + " " + resp.reason + {"</h1>
    <p>"} + resp.reason + {"</p>
    <h3>Guru Meditation:</h3>
    <p>XID: "} + req.xid + {"</p>
    <hr>
    <p>Varnish cache server</p>
  </body>
</html>
"});
    return (deliver);
}
`))

// haproxyConf is the seed's haproxy.conf.in for HAProxy 2.6, with these
// differences, each for a reason:
//   - nbthread is set (1 by default: on 2 cores HAProxy 2.6 is three times
//     faster with one thread than with its default two, performance.md);
//   - each server takes maxconn requests (the origin's slots; the seed has
//     1 for its 1-thread Zopes);
//   - no option httpclose: HAProxy 2.6 keeps connections alive on both
//     sides (its default), as performance.md's figures were measured. The
//     seed closed them because idle connections to 1-thread Zopes counted
//     against maxconn in HAProxy 1.x; in 2.6 maxconn counts requests in
//     flight, and so do the origin's slots. (With option
//     http-server-close, one connection to an origin per request, HAProxy
//     spent about 3 times the CPU per request here.)
//   - appsession (removed in HAProxy 1.6) becomes its documented successor,
//     a stick table learning the __ac cookie from responses;
//   - no log target: the seed logs to a syslog at local6, which this
//     machine has not;
//   - no ulimit-n, and the global maxconn lowered below the seed's 24000
//     where the file limit is too low for it (haproxyMaxConn); the suite
//     opens far fewer connections either way.
var haproxyConf = template.Must(template.New("haproxy").Parse(`# Written by cairn-bench compare -tiers balancer from the seed's haproxy.conf.in.
global
  maxconn {{.GlobalMaxConn}}
  nbthread {{.Threads}}

defaults
  mode http
  option abortonclose
  retries 3
  option redispatch
  monitor-uri /haproxy-ping

  timeout connect 7s
  timeout queue   300s
  timeout client  300s
  timeout server  300s

  stats enable
  stats show-legends
  stats uri /haproxy-stats
  stats refresh 5s
  stats realm Haproxy\ statistics
  stats auth admin:admin

frontend zopecluster
  bind {{.Listen}}
  default_backend zope
  capture cookie __ac len 10

backend zope
  stick-table type string len 32 size 100k expire 1d
  stick store-response res.cook(__ac)
  stick match req.cook(__ac)
  cookie serverid
  balance roundrobin
  option httpchk GET /
  timeout connect 60m
{{- range .Servers}}
  server {{.Name}} {{.Addr}} cookie {{.Cookie}} check maxconn {{$.MaxConn}} maxqueue 2
{{- end}}
`))

// transformConf is the seed's theming nginx: Debian's nginx with the stock
// XSLT filter applying the compiled Diazo theme to the pages it proxies,
// set up as Diazo's documentation says (diazo-transform.md §3.1): the
// filter for text/html, the path as a string parameter, and no
// Accept-Encoding to the backend (a compressed body cannot be transformed).
// Keep-alive to the origin and the buffered access log are as in the
// frontend suite's nginx.
var transformConf = nginxTemplate("transform", `# Written by cairn-bench compare -tiers transform.
load_module {{.XSLTModule}};
{{template "process" .}}worker_processes 2;

http {
    types {
        text/html html;
    }
    default_type application/octet-stream;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    server_tokens off;

{{template "temps" .}}
    access_log {{.Dir}}/nginx-access.log combined buffer=64k flush=1s;

    upstream origin {
{{- range .Origins}}
        server {{.}};
{{- end}}
        keepalive 64;
        keepalive_requests 1000000;
    }

    server {
        listen {{.Listen}} default_server;
        server_name _;

        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header Accept-Encoding "";
            proxy_set_header X-Diazo "true";
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;

            xslt_stylesheet {{.Stylesheet}};
            xslt_string_param path $uri;
            xslt_types text/html;
        }
    }
}
`)

// haproxyMaxConn is the seed's global maxconn, 24000, or less where the
// process may not open the two descriptors per connection (plus some) that
// HAProxy then asks for: it refuses to start when it cannot raise its
// file limit that far.
func haproxyMaxConn(fileLimit uint64) int {
	const seed, spare = 24000, 100
	if fileLimit >= 2*seed+spare {
		return seed
	}
	return max(64, int(fileLimit)/2-spare)
}

// fileLimit is the hard limit on open files (the most HAProxy can raise
// its own to).
func fileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return rl.Max
}

// varnishArgv runs varnishd in the foreground (-F, as the seed's start
// script does) with its working folder below s.Dir and no management
// listener, so that nothing but s.Listen is bound.
func varnishArgv(bin string, s peerSite, vcl string) []string {
	return []string{bin, "-F", "-a", s.Listen, "-f", vcl, "-s", s.VarnishStorage,
		"-n", filepath.Join(s.Dir, "varnish"), "-T", "none"}
}

// haproxyArgv runs HAProxy in the foreground (-db), as the seed's
// Supervisor program does.
func haproxyArgv(bin, conf string) []string {
	return []string{bin, "-f", conf, "-db"}
}

// transformArgv runs nginx in the foreground on conf, with its prefix and
// start-up error log in the work folder.
func transformArgv(s peerSite, conf string) []string {
	return []string{"nginx", "-p", s.Dir + "/", "-e", filepath.Join(s.Dir, "nginx-error.log"), "-c", conf}
}
