// Package sitefile reads Cairn's one site file: the site-wide [hosts],
// [ports] and [users] tables, and one tier's own section, strictly.
//
// Every tier binary decodes only its section (style.md §4), so keys of other
// sections are not this reader's business; unknown keys inside the tier's
// own section are an error. Every error names the file, the line and the key
// at fault, including errors found after decoding by the tier's own
// validation (see FieldError), so an operator can go straight to the line.
package sitefile

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Site holds the site-wide tables that every tier may refer to: the seed's
// buildout had the same [hosts], [ports] and [users] sections, so that each
// address is written once.
type Site struct {
	// Hosts maps a service name to its host; a service with a port but no
	// host is on 127.0.0.1.
	Hosts map[string]string `toml:"hosts"`
	// Ports maps a service name to its TCP port.
	Ports map[string]int `toml:"ports"`
	// Users maps a role (e.g. "zope", "www") to a system user name.
	Users map[string]string `toml:"users"`
}

// DefaultPorts are the seed's ports (seed/README.md, "Ports and hosts").
// They apply when the site file does not set a port of the same name.
var defaultPorts = map[string]int{
	"frontend": 8000, "cache": 8101, "balancer": 8201, "transform": 8301,
	"instance1": 8401, "instance2": 8402, "instance3": 8403, "instance4": 8404,
	"debug": 8499, "objectstore": 8501, "control": 9001,
}

// DefaultPort returns the seed's port for a service name, or 0.
func DefaultPort(name string) int { return defaultPorts[name] }

// Addr resolves an address reference. A reference that already has a port
// ("host:port", "[::1]:80", ":8080") is returned unchanged; a bare name
// ("cache", "instance1") is looked up in [hosts] and [ports] (falling back to
// 127.0.0.1 and the seed's default ports).
func (s Site) Addr(ref string) (string, error) {
	if ref == "" {
		return "", errors.New("empty address")
	}
	if _, _, err := net.SplitHostPort(ref); err == nil {
		return ref, nil
	}
	port, ok := s.Ports[ref]
	if !ok {
		port, ok = defaultPorts[ref]
	}
	if !ok {
		return "", fmt.Errorf("%q is neither host:port nor a name in [ports]", ref)
	}
	host := s.Hosts[ref]
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// FieldError is a validation error tied to a key of the tier's section, in
// the dotted form with array indices that Load reports ("hosts[0].routes[1].regex").
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Errorf builds a FieldError for key.
func Errorf(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Prefix returns err with prefix prepended to its key if it is a FieldError,
// so nested validators can report keys relative to themselves.
func Prefix(prefix string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Key: prefix + "." + fe.Key, Err: fe.Err}
	}
	return err
}

// Error is an error in the site file, with its position.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // full dotted key, "" when the error is not about a key
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Doc is a decoded site file, kept to point validation errors at their line.
type Doc struct {
	name    string
	section string
	idx     *keyIndex
}

// Load reads path and decodes the site-wide tables into site and the table
// named section into cfg (a pointer to a struct holding defaults already).
// Unknown keys in section and type errors come back as *Error with the line
// and key at fault.
func Load(path, section string, site *Site, cfg any) (*Doc, error) {
	data, err := ReadFile(path, MaxSiteFile)
	if err != nil {
		return nil, err
	}
	return Decode(path, data, section, site, cfg)
}

// Decode is Load on data already read; name is used in errors.
func Decode(name string, data []byte, section string, site *Site, cfg any) (*Doc, error) {
	idx, err := indexKeys(data)
	if err != nil {
		return nil, syntaxError(name, data)
	}
	doc := &Doc{name: name, section: section, idx: idx}
	if err := decodeStrict(data, section, site, cfg); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			e := sm.Errors[0]
			row, _ := e.Position()
			return nil, doc.fail(strings.Join(e.Key(), "."), row, errors.New("unknown key"))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return nil, doc.fail(strings.Join(de.Key(), "."), row, errors.New(strings.TrimPrefix(de.Error(), "toml: ")))
		}
		// The decoder gives no position for some value errors (a number
		// where a text value is expected): point at the section.
		return nil, doc.fail(section, 0, err)
	}
	return doc, nil
}

func (d *Doc) fail(key string, line int, err error) error {
	if line == 0 {
		line = d.idx.line(key)
	}
	return &Error{File: d.name, Line: line, Key: key, Err: err}
}

// Locate turns a validation error of the section into an *Error with the
// line of its key (or of the section, when the error names no key). A nil
// Doc (configuration from flags alone) returns err unchanged.
func (d *Doc) Locate(err error) error {
	if d == nil || err == nil {
		return err
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return d.fail(d.section+"."+fe.Key, 0, fe.Err)
	}
	return d.fail(d.section, 0, err)
}

// decodeStrict decodes the site-wide tables and section in one strict pass
// over a struct built for section's name. Keys of other sections belong to
// other tiers and are dropped from the strict error.
func decodeStrict(data []byte, section string, site *Site, cfg any) error {
	cv := reflect.ValueOf(cfg)
	if cv.Kind() != reflect.Pointer || cv.Elem().Kind() != reflect.Struct {
		panic("sitefile: cfg must be a pointer to a struct") // programmer error
	}
	siteType := reflect.TypeOf(Site{})
	fields := []reflect.StructField{}
	for i := range siteType.NumField() {
		fields = append(fields, siteType.Field(i))
	}
	fields = append(fields, reflect.StructField{
		Name: "Section", Type: cv.Elem().Type(), Tag: reflect.StructTag(`toml:"` + section + `"`),
	})
	view := reflect.New(reflect.StructOf(fields)).Elem()
	view.Field(len(fields) - 1).Set(cv.Elem())
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(view.Addr().Interface())
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		var own []toml.DecodeError
		for _, e := range sm.Errors {
			if k := e.Key(); len(k) > 0 && (k[0] == section || k[0] == "hosts" || k[0] == "ports" || k[0] == "users") {
				own = append(own, e)
			}
		}
		if len(own) == 0 {
			err = nil
		} else {
			sm.Errors = own
		}
	}
	if err != nil {
		return err
	}
	for i := range siteType.NumField() {
		reflect.ValueOf(site).Elem().Field(i).Set(view.Field(i))
	}
	cv.Elem().Set(view.Field(len(fields) - 1))
	return nil
}

// syntaxError reports a document that does not parse, with the decoder's
// position (the unstable parser's error carries none).
func syntaxError(name string, data []byte) error {
	err := toml.Unmarshal(data, &map[string]any{})
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return &Error{File: name, Line: row, Err: errors.New(strings.TrimPrefix(de.Error(), "toml: "))}
	}
	if err == nil {
		err = errors.New("invalid TOML")
	}
	return &Error{File: name, Err: err}
}
