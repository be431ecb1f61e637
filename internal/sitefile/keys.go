package sitefile

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyIndex maps every key of a document, in the dotted form with array
// indices ("frontend.hosts[0].routes[1].regex"), to the line it is on, so
// that errors found after decoding can still point at their line.
type keyIndex struct {
	lines  map[string]int
	arrays map[string]int // array-of-tables path -> number of elements so far
}

func indexKeys(data []byte) (*keyIndex, error) {
	idx := &keyIndex{lines: map[string]int{}, arrays: map[string]int{}}
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			table = idx.resolve(keyParts(e.Key()))
			idx.lines[table] = p.Shape(e.Raw).Start.Line
		case unstable.ArrayTable:
			parent := keyParts(e.Key())
			base := idx.resolve(parent)
			n := idx.arrays[base]
			idx.arrays[base] = n + 1
			table = base + "[" + strconv.Itoa(n) + "]"
			idx.lines[table] = p.Shape(e.Raw).Start.Line
		case unstable.KeyValue:
			idx.keyValue(&p, join(table, strings.Join(keyParts(e.Key()), ".")), e.Value(), p.Shape(e.Raw).Start.Line)
		}
	}
	return idx, p.Error()
}

// keyValue records key and, for inline tables and arrays, the keys inside.
func (idx *keyIndex) keyValue(p *unstable.Parser, key string, v *unstable.Node, line int) {
	idx.lines[key] = line
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			idx.keyValue(p, key+"."+strings.Join(keyParts(kv.Key()), "."), kv.Value(), lineOf(p, kv, line))
		}
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			idx.keyValue(p, key+"["+strconv.Itoa(i)+"]", it.Node(), lineOf(p, it.Node(), line))
		}
	}
}

func lineOf(p *unstable.Parser, n *unstable.Node, fallback int) int {
	if n.Raw.Length == 0 {
		return fallback
	}
	return p.Shape(n.Raw).Start.Line
}

// resolve turns a dotted table path into its indexed form: every prefix that
// names an array of tables refers to that array's latest element, as TOML
// says ([[a.b]] after [[a]] belongs to the last [[a]]).
func (idx *keyIndex) resolve(parts []string) string {
	path := ""
	for i, part := range parts {
		path = join(path, part)
		if n, ok := idx.arrays[path]; ok && i < len(parts)-1 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

// line returns the line of key, or of its nearest enclosing key, or 0.
func (idx *keyIndex) line(key string) int {
	for key != "" {
		if l, ok := idx.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}
