package load

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairnstack/cairn/internal/sitefile"
)

// Scenario is the mix of requests a run sends: every request of a run is
// one of Requests, picked at random in proportion to its Weight.
type Scenario struct {
	Requests []Request
}

// Request is one kind of request in a scenario.
type Request struct {
	URL     string            `toml:"url"`
	Method  string            `toml:"method"`
	Weight  int               `toml:"weight"`
	Headers map[string]string `toml:"headers"`
	Cookies map[string]string `toml:"cookies"`
	Body    string            `toml:"body"`
	// BodyFile names a file whose content is the body (relative to the
	// scenario file); it is read once, when the scenario is loaded.
	BodyFile string `toml:"body_file"`
}

// scenarioFile is the `[scenario]` table of a scenario file.
type scenarioFile struct {
	Defaults Request   `toml:"defaults"`
	Requests []Request `toml:"requests"`
}

// MaxRequests bounds the request kinds of one scenario; MaxBody bounds a
// request body (bodies are held in memory by every worker).
const (
	MaxRequests = 10000
	MaxBody     = 64 << 20
)

// LoadScenario reads a scenario file:
//
//	[scenario.defaults]             # applied to every request below
//	headers = { "Accept-Encoding" = "gzip" }
//
//	[[scenario.requests]]
//	url = "http://127.0.0.1:8000/front-page"
//	weight = 9
//
//	[[scenario.requests]]
//	url = "http://127.0.0.1:8000/login_form"
//	method = "POST"
//	body = "__ac_name=admin"
//	cookies = { "__ac" = "token" }
//
// Errors name the file, line and key at fault.
func LoadScenario(path string) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, err
	}
	return ParseScenario(path, data, filepath.Dir(path))
}

// ParseScenario decodes a scenario file already read; dir is where
// body_file names are looked up ("" refuses body_file).
func ParseScenario(name string, data []byte, dir string) (Scenario, error) {
	var f scenarioFile
	var site sitefile.Site
	doc, err := sitefile.Decode(name, data, "scenario", &site, &f)
	if err != nil {
		return Scenario{}, err
	}
	if len(f.Requests) == 0 {
		return Scenario{}, doc.Locate(errors.New("no [[scenario.requests]]"))
	}
	if len(f.Requests) > MaxRequests {
		return Scenario{}, doc.Locate(fmt.Errorf("%d requests; at most %d", len(f.Requests), MaxRequests))
	}
	var sc Scenario
	for i, r := range f.Requests {
		r = withDefaults(r, f.Defaults)
		if r.BodyFile != "" {
			if dir == "" {
				return Scenario{}, doc.Locate(sitefile.Errorf(fmt.Sprintf("requests[%d].body_file", i), "not allowed here"))
			}
			b, err := readBody(filepath.Join(dir, r.BodyFile))
			if err != nil {
				return Scenario{}, doc.Locate(sitefile.Errorf(fmt.Sprintf("requests[%d].body_file", i), "%v", err))
			}
			r.Body, r.BodyFile = string(b), ""
		}
		if err := r.validate(); err != nil {
			return Scenario{}, doc.Locate(sitefile.Prefix(fmt.Sprintf("requests[%d]", i), err))
		}
		sc.Requests = append(sc.Requests, r)
	}
	return sc, nil
}

// withDefaults fills what r leaves unset from d; maps are merged, r's
// entries winning.
func withDefaults(r, d Request) Request {
	if r.Method == "" {
		r.Method = d.Method
	}
	if r.Weight == 0 {
		r.Weight = d.Weight
	}
	if r.Body == "" && r.BodyFile == "" {
		r.Body, r.BodyFile = d.Body, d.BodyFile
	}
	r.Headers = mergeMaps(d.Headers, r.Headers)
	r.Cookies = mergeMaps(d.Cookies, r.Cookies)
	if r.URL == "" {
		r.URL = d.URL
	}
	return r
}

func mergeMaps(base, over map[string]string) map[string]string {
	if len(base) == 0 {
		return over
	}
	m := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

// readBody reads a request body file: a regular file of at most MaxBody.
func readBody(path string) ([]byte, error) {
	return sitefile.ReadFile(path, MaxBody)
}

// validate checks what the generator relies on, and fills the defaults
// (GET, weight 1).
func (r *Request) validate() error {
	if r.Method == "" {
		r.Method = "GET"
	}
	if r.Weight == 0 {
		r.Weight = 1
	}
	if r.Weight < 0 || r.Weight > 1_000_000 {
		return sitefile.Errorf("weight", "%d is out of range 1…1000000", r.Weight)
	}
	if !isToken(r.Method) {
		return sitefile.Errorf("method", "%q is not an HTTP method", r.Method)
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return sitefile.Errorf("url", "%q is not an absolute http or https URL", r.URL)
	}
	if u.Fragment != "" || u.User != nil {
		return sitefile.Errorf("url", "%q: fragments and user info are not sent", r.URL)
	}
	if len(r.Body) > MaxBody {
		return sitefile.Errorf("body", "%d bytes; at most %d", len(r.Body), MaxBody)
	}
	for k, v := range r.Headers {
		if !isToken(k) {
			return sitefile.Errorf("headers", "%q is not a header name", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return sitefile.Errorf("headers", "%s: line breaks are not allowed in a value", k)
		}
	}
	for k, v := range r.Cookies {
		if !isToken(k) || strings.ContainsAny(v, ";\r\n\x00 ,\"\\") {
			return sitefile.Errorf("cookies", "%q=%q is not a valid cookie", k, v)
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token (method and header names).
func isToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
