package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// site is what both servers under test are configured with.
type site struct {
	Dir        string // work folder: configs, logs, temp files
	StaticDir  string // served below /static/
	OriginAddr string // 127.0.0.1:port of the origin
	NginxAddr  string
	CairnAddr  string
	CairnAdmin string
	ZopeSite   string // VirtualHostMonster site id
}

// nginxCommon is what every nginx the suites start shares, as named
// templates: "process" (a foreground master, its pid and error log in the
// work folder) and "temps" (nginx's temporary files in the work folder's
// nginx-tmp, which the caller creates).
var nginxCommon = template.Must(template.New("common").Parse(`{{define "process"}}daemon off;
master_process on;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log warn;

events {
    worker_connections 4096;
}
{{end}}{{define "temps"}}    client_body_temp_path {{.Dir}}/nginx-tmp/client_body;
    proxy_temp_path {{.Dir}}/nginx-tmp/proxy;
    fastcgi_temp_path {{.Dir}}/nginx-tmp/fastcgi;
    uwsgi_temp_path {{.Dir}}/nginx-tmp/uwsgi;
    scgi_temp_path {{.Dir}}/nginx-tmp/scgi;
{{end}}`))

// nginxTemplate is an nginx configuration that may use nginxCommon's parts.
func nginxTemplate(name, text string) *template.Template {
	return template.Must(template.Must(nginxCommon.Clone()).New(name).Parse(text))
}

// nginxConf mirrors the seed's nginx-vhost.conf.in (location / with the
// VHM rewrite and the forwarding headers) with a keep-alive upstream pool,
// and Debian's nginx.conf defaults (sendfile, tcp_nopush, gzip on for the
// same types cairn compresses; wrk asks for no encoding, so neither server
// compresses). Where the two servers' defaults differ, nginx is set to what
// cairn does, so that the comparison is of the same work:
//   - keepalive_requests: cairn closes no connection after N requests;
//     nginx's default (1000) would add reconnects to its side only;
//   - access_log buffer=64k flush=1s: cairn buffers its log 64 KiB and
//     flushes every second.
var nginxConf = nginxTemplate("nginx", `# Written by cairn-bench compare.
{{template "process" .}}worker_processes 2;

http {
    types {
        text/html html;
        text/plain txt;
    }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    server_tokens off;
    gzip on;
    gzip_types text/plain text/css text/xml text/javascript application/javascript application/json application/xml image/svg+xml;

{{template "temps" .}}
    access_log {{.Dir}}/nginx-access.log combined buffer=64k flush=1s;

    upstream origin {
        server {{.OriginAddr}};
        keepalive 64;
        keepalive_requests 1000000;
    }

    server {
        listen {{.NginxAddr}} default_server;
        server_name _;

        location /static/ {
            alias {{.StaticDir}}/;
        }

        location / {
            rewrite ^/(.*)$ /VirtualHostBase/$scheme/$host:$server_port/{{.ZopeSite}}/VirtualHostRoot/$1 break;
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;
        }
    }
}
`)

// cairnConf is the same site as a [frontend] section (frontend/config.go).
// X-Forwarded-For: cairn trusts no proxy by default, so it sends the peer
// alone, as nginx's $remote_addr above.
var cairnConf = template.Must(template.New("cairn").Parse(`# Written by cairn-bench compare.
[frontend]
access_log = "{{.Dir}}/cairn-access.log"

[[frontend.listeners]]
addr = "{{.CairnAddr}}"

[frontend.upstreams.origin]
addrs = ["{{.OriginAddr}}"]
connect_timeout = "5s"
read_timeout = "60s"

[[frontend.hosts]]
default = true

[[frontend.hosts.routes]]
path = "/static/"
static = "{{.StaticDir}}"

[[frontend.hosts.routes]]
path = "/"
proxy = "origin"
zope = { site = "{{.ZopeSite}}" }
`))

// staticFile is the 20 KB file of the static scenario.
const staticFile = "page.html"

// writeSite writes the static file and both servers' configurations into
// s.Dir and returns the paths of the two configurations. The folder is made
// world-readable: nginx's workers run as nobody when the suite runs as root.
func writeSite(s site) (nginxPath, cairnPath string, err error) {
	if err := os.MkdirAll(filepath.Join(s.Dir, "nginx-tmp"), 0o755); err != nil {
		return "", "", fmt.Errorf("bench: %w", err)
	}
	if err := os.MkdirAll(s.StaticDir, 0o755); err != nil {
		return "", "", fmt.Errorf("bench: %w", err)
	}
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return "", "", fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.StaticDir, staticFile), staticPage(20<<10), 0o644); err != nil {
		return "", "", fmt.Errorf("bench: static file: %w", err)
	}
	nginxPath = filepath.Join(s.Dir, "nginx.conf")
	cairnPath = filepath.Join(s.Dir, "site.toml")
	if err := writeTemplate(nginxPath, nginxConf, s); err != nil {
		return "", "", err
	}
	if err := writeTemplate(cairnPath, cairnConf, s); err != nil {
		return "", "", err
	}
	return nginxPath, cairnPath, nil
}

func writeTemplate(path string, t *template.Template, data any) error {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return fmt.Errorf("bench: %s: %w", t.Name(), err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("bench: %s config: %w", t.Name(), err)
	}
	return nil
}

// staticPage is an HTML page of exactly size bytes.
func staticPage(size int) []byte {
	const head, tail = "<!DOCTYPE html><html><head><title>static</title></head><body><p>", "</p></body></html>\n"
	body := strings.Repeat("Static text served by the front web server. ", size/44+1)
	return []byte(head + body[:size-len(head)-len(tail)] + tail)
}

// nginxArgv runs nginx in the foreground on conf, with the prefix and the
// start-up error log in the work folder (-e: nothing goes to /var/log).
func nginxArgv(s site, conf string) []string {
	return []string{"nginx", "-p", s.Dir + "/", "-e", filepath.Join(s.Dir, "nginx-error.log"), "-c", conf}
}

// cairnArgv runs cairn-frontend from the site file, with its admin (for
// /healthz and pprof) on s.CairnAdmin and its own log in the work folder.
func cairnArgv(binDir string, s site, conf string) []string {
	return []string{filepath.Join(binDir, "cairn-frontend"), "-config", conf, "-admin", s.CairnAdmin,
		"-log-level", "warn", "-log-file", filepath.Join(s.Dir, "cairn.log")}
}
