package load

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScenarioFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "form.txt"), []byte("a=1&b=2"), 0o644) //nolint:errcheck
	path := filepath.Join(dir, "site.toml")
	os.WriteFile(path, []byte(`
[scenario.defaults]
headers = { "Accept-Encoding" = "gzip" }

[[scenario.requests]]
url = "http://127.0.0.1:8000/"
weight = 9

[[scenario.requests]]
url = "https://127.0.0.1:8443/login"
method = "POST"
body_file = "form.txt"
headers = { "Content-Type" = "application/x-www-form-urlencoded" }
cookies = { "__ac" = "token" }
`), 0o644) //nolint:errcheck
	sc, err := LoadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Requests) != 2 {
		t.Fatalf("%+v", sc)
	}
	a, b := sc.Requests[0], sc.Requests[1]
	if a.Method != "GET" || a.Weight != 9 || a.Headers["Accept-Encoding"] != "gzip" {
		t.Errorf("first request %+v", a)
	}
	if b.Method != "POST" || b.Weight != 1 || b.Body != "a=1&b=2" || b.Cookies["__ac"] != "token" ||
		b.Headers["Accept-Encoding"] != "gzip" || b.Headers["Content-Type"] == "" {
		t.Errorf("second request %+v", b)
	}
}

func TestScenarioErrorsNameLineAndKey(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"[scenario]\n", "no [[scenario.requests]]"},
		{"[[scenario.requests]]\nurl = \"ftp://x/\"\n", "x.toml:2: scenario.requests[0].url"},
		{"[[scenario.requests]]\nurl = \"http://a/\"\n\n[[scenario.requests]]\nurl = \"http://a/\"\nweight = -2\n", "x.toml:6: scenario.requests[1].weight"},
		{"[[scenario.requests]]\nurl = \"http://a/\"\nmethod = \"GE T\"\n", "x.toml:3: scenario.requests[0].method"},
		{"[[scenario.requests]]\nurl = \"http://a/\"\nheaders = { \"Bad Name\" = \"x\" }\n", "x.toml:3: scenario.requests[0].headers"},
		{"[[scenario.requests]]\nurl = \"http://a/\"\nheaders = { X = \"a\\r\\nInjected: 1\" }\n", "line breaks"},
		{"[[scenario.requests]]\nurl = \"http://a/\"\ncookies = { a = \"b; c=d\" }\n", "not a valid cookie"},
		{"[[scenario.requests]]\nurl = \"http://a/\"\nbody_file = \"/etc/passwd\"\n", "not allowed here"},
		{"[[scenario.requests]]\nurl = \"http://a/\"\nspeed = 3\n", "x.toml:3: scenario.requests.speed: unknown key"},
		{"[[scenario.requests]\n", "x.toml:1"},
	} {
		_, err := ParseScenario("x.toml", []byte(tc.doc), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to mention %q", tc.doc, err, tc.want)
		}
	}
}

// FuzzParseScenario: any document is either refused with an error or gives
// requests that pass validation; it never panics.
func FuzzParseScenario(f *testing.F) {
	f.Add([]byte("[[scenario.requests]]\nurl = \"http://a/\"\nweight = 2\nheaders = { X = \"1\" }\n"))
	f.Add([]byte("[scenario.defaults]\nmethod = \"POST\"\n[[scenario.requests]]\nurl = \"https://b:1/x?y\"\n"))
	f.Add([]byte("[[scenario.requests]]\nurl = \"http://a/\"\ncookies = { a = \"b\" }\nbody = \"zz\"\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		sc, err := ParseScenario("fuzz.toml", doc, "")
		if err != nil {
			return
		}
		for _, r := range sc.Requests {
			if err := r.validate(); err != nil {
				t.Fatalf("accepted request fails validation: %v", err)
			}
			newRequest(r, DefaultOptions())
		}
	})
}
