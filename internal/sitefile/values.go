package sitefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Duration is a time.Duration written as in Go ("30s", "1m30s") in the site
// file and on the command line. It is a flag.Value and a TextUnmarshaler.
// It is a struct, not a named int64, so that a bare number in the site file
// ("timeout = 30", which would mean 30ns) is a type error, not a surprise.
type Duration struct{ time.Duration }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return d.Duration }

// Dur makes a Duration.
func Dur(d time.Duration) Duration { return Duration{d} }

// Set parses s; it implements flag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// UnmarshalText parses a Go duration; a negative one is an error.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"30s\", \"1m\")", b)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes d as a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Size is a byte count written with an optional unit: "512", "128K", "100M",
// "1G" (powers of 1024, as nginx reads client_max_body_size), or with KB, MB,
// GB, KiB, MiB, GiB. It is a flag.Value and a TextUnmarshaler.
type Size int64

func (s Size) String() string {
	switch {
	case s != 0 && s%(1<<30) == 0:
		return strconv.FormatInt(int64(s>>30), 10) + "G"
	case s != 0 && s%(1<<20) == 0:
		return strconv.FormatInt(int64(s>>20), 10) + "M"
	case s != 0 && s%(1<<10) == 0:
		return strconv.FormatInt(int64(s>>10), 10) + "K"
	}
	return strconv.FormatInt(int64(s), 10)
}

// Set parses v; it implements flag.Value.
func (s *Size) Set(v string) error { return s.UnmarshalText([]byte(v)) }

// MarshalText writes s in the largest whole unit.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var errSize = errors.New(`invalid size (want e.g. "512", "128K", "100M", "1G")`)

// UnmarshalText parses a size.
func (s *Size) UnmarshalText(b []byte) error {
	v := strings.ToUpper(strings.TrimSpace(string(b)))
	shift := 0
	for _, u := range []struct {
		suffix string
		shift  int
	}{{"KIB", 10}, {"MIB", 20}, {"GIB", 30}, {"KB", 10}, {"MB", 20}, {"GB", 30}, {"K", 10}, {"M", 20}, {"G", 30}, {"B", 0}} {
		if strings.HasSuffix(v, u.suffix) {
			v, shift = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return fmt.Errorf("%w: %q", errSize, b)
	}
	*s = Size(n << shift)
	return nil
}

// Effective writes a tier's configuration section, defaults filled in, on
// one line as JSON with the site file's own keys (through its TOML form),
// so that the log line at start and after a reload shows every setting
// under the name the operator writes. Empty strings and lists and false
// are left out (a route would otherwise list every key it does not use);
// numbers and durations stay, zero included, since a zero limit means
// something. On an error it says so rather than showing part of it.
func Effective(section any) string {
	b, err := toml.Marshal(section)
	if err != nil {
		return fmt.Sprintf("(not shown: %v)", err)
	}
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		return fmt.Sprintf("(not shown: %v)", err)
	}
	j, err := json.Marshal(pruneEmpty(m)) // maps come out sorted by key
	if err != nil {
		return fmt.Sprintf("(not shown: %v)", err)
	}
	return string(j)
}

// pruneEmpty drops the empty strings, lists and tables and the false
// values of a decoded TOML document.
func pruneEmpty(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e = pruneEmpty(e); isEmpty(e) {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
	case []any:
		for i, e := range v {
			v[i] = pruneEmpty(e)
		}
	}
	return v
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case string:
		return v == ""
	case bool:
		return !v
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return v == nil
}
