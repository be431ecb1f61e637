package sitefile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/sitefile"
)

type route struct {
	Path  string `toml:"path"`
	Regex string `toml:"regex"`
}

type host struct {
	Names  []string `toml:"names"`
	Routes []route  `toml:"routes"`
}

type tierConfig struct {
	Listen  string            `toml:"listen"`
	Timeout sitefile.Duration `toml:"timeout"`
	MaxBody sitefile.Size     `toml:"max_body"`
	Hosts   []host            `toml:"hosts"`
}

const doc = `
[hosts]
cache = "10.0.0.5"

[ports]
cache = 9101

[cache]
anything = "belongs to another tier"

[tier]
listen = "cache"
timeout = "30s"
max_body = "100M"

[[tier.hosts]]
names = ["a"]

[[tier.hosts.routes]]
path = "/"

[[tier.hosts.routes]]
regex = "("
`

func TestDecodeSectionAndSite(t *testing.T) {
	var site sitefile.Site
	cfg := &tierConfig{Listen: "default", MaxBody: 1}
	d, err := sitefile.Decode("site.toml", []byte(doc), "tier", &site, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeout.D().Seconds() != 30 || cfg.MaxBody != 100<<20 || len(cfg.Hosts) != 1 || len(cfg.Hosts[0].Routes) != 2 {
		t.Errorf("decoded %+v", cfg)
	}
	addr, err := site.Addr(cfg.Listen)
	if err != nil || addr != "10.0.0.5:9101" {
		t.Errorf("Addr(cache) = %q, %v", addr, err)
	}
	if a, _ := site.Addr("balancer"); a != "127.0.0.1:8201" {
		t.Errorf("seed default port: %q", a)
	}
	if _, err := site.Addr("nowhere"); err == nil {
		t.Errorf("unknown name resolved")
	}
	// A validation error on a key points at its line.
	err = d.Locate(sitefile.Errorf("hosts[0].routes[1].regex", "bad regex"))
	var se *sitefile.Error
	if !errors.As(err, &se) || se.Line != 23 || se.Key != "tier.hosts[0].routes[1].regex" {
		t.Errorf("Locate = %v; want line 23, key tier.hosts[0].routes[1].regex", err)
	}
	if got := err.Error(); got != "site.toml:23: tier.hosts[0].routes[1].regex: bad regex" {
		t.Errorf("message %q", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		line      int
		key, msg  string
	}{
		{"unknown key", "[tier]\nlisten = \"x\"\nlistne = \"y\"\n", 3, "tier.listne", "unknown key"},
		{"unknown nested key", "[tier]\n[[tier.hosts]]\nnames = []\nnmes = 1\n", 4, "tier.hosts.nmes", "unknown key"},
		{"wrong type", "[tier]\n\nlisten = 5\n", 3, "tier.listen", ""},
		{"bare number duration", "[tier]\n\ntimeout = 5\n", 1, "tier", "invalid duration \"5\""},
		{"bad duration", "[tier]\ntimeout = \"soon\"\n", 2, "tier.timeout", "invalid duration"},
		{"bad size", "[tier]\nmax_body = \"lots\"\n", 2, "tier.max_body", "invalid size"},
		{"syntax", "[tier]\nlisten = \n", 2, "", ""},
		{"bad port type", "[ports]\ncache = \"x\"\n", 2, "ports.cache", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var site sitefile.Site
			_, err := sitefile.Decode("f.toml", []byte(tc.doc), "tier", &site, &tierConfig{})
			var se *sitefile.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *sitefile.Error", err)
			}
			if se.File != "f.toml" || se.Line != tc.line || se.Key != tc.key || !strings.Contains(se.Error(), tc.msg) {
				t.Errorf("got %q (line %d key %q); want line %d key %q containing %q", se, se.Line, se.Key, tc.line, tc.key, tc.msg)
			}
		})
	}
}

func TestSizeAndDuration(t *testing.T) {
	for in, want := range map[string]sitefile.Size{"512": 512, "128K": 128 << 10, "100M": 100 << 20, "1G": 1 << 30,
		"2MiB": 2 << 20, "3kb": 3 << 10, "7B": 7} {
		var s sitefile.Size
		if err := s.Set(in); err != nil || s != want {
			t.Errorf("Size(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1T", "K", "9999999999999G", "1.5M"} {
		var s sitefile.Size
		if err := s.Set(in); err == nil {
			t.Errorf("Size(%q) accepted", in)
		}
	}
	var d sitefile.Duration
	if err := d.Set("-1s"); err == nil {
		t.Errorf("negative duration accepted")
	}
}

// FuzzDecode feeds arbitrary documents to the reader: it must return an
// error or a config, never panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(doc))
	f.Add([]byte("[tier]\n[[tier.hosts]]\n[[tier.hosts.routes]]\n[[tier.hosts]]\n"))
	f.Add([]byte("a.b.c = 1\n[x]\ny = [{z = 1}, {z = [1, {w = 2}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var site sitefile.Site
		d, err := sitefile.Decode("f.toml", data, "tier", &site, &tierConfig{})
		if err == nil {
			_ = d.Locate(sitefile.Errorf("hosts[0].routes[0].path", "x"))
			_, _ = site.Addr("cache")
		}
	})
}

// TestEffective: the logged configuration has the file's keys and value
// forms, leaves out what is empty or false, and keeps zero numbers.
func TestEffective(t *testing.T) {
	type effRoute struct {
		Path  string   `toml:"path"`
		Proxy string   `toml:"proxy"`
		Allow []string `toml:"allow"`
	}
	type section struct {
		MaxBody  sitefile.Size     `toml:"max_body_size"`
		Timeout  sitefile.Duration `toml:"read_timeout"`
		MaxConns int               `toml:"max_conns"`
		Off      bool              `toml:"no_sync"`
		Empty    string            `toml:"body_temp_dir"`
		Routes   []effRoute        `toml:"routes"`
		hidden   string
	}
	got := sitefile.Effective(section{MaxBody: 100 << 20, Timeout: sitefile.Dur(90 * time.Second), Routes: []effRoute{{Path: "/", Proxy: "cache"}}, hidden: "x"})
	want := `{"max_body_size":"100M","max_conns":0,"read_timeout":"1m30s","routes":[{"path":"/","proxy":"cache"}]}`
	if got != want {
		t.Errorf("Effective:\n got %s\nwant %s", got, want)
	}
}
