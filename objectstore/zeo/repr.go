package zeo

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// reprMax is where Repr cuts its output, as ZEO's short_repr does for log
// lines.
const reprMax = 256

// Repr formats a value like Python's repr, cut after about 256 bytes, for
// log lines and error messages. It is safe on shared and cyclic values.
func Repr(v any) string {
	var b strings.Builder
	writeRepr(&b, v, 0)
	if b.Len() > reprMax {
		return b.String()[:reprMax] + "..."
	}
	return b.String()
}

func writeRepr(b *strings.Builder, v any, depth int) {
	if b.Len() > reprMax {
		return
	}
	if depth > 20 {
		b.WriteString("...")
		return
	}
	if isNilPointer(v) {
		fmt.Fprintf(b, "<nil %T>", v)
		return
	}
	switch x := v.(type) {
	case nil, None:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case float64:
		writeFloat(b, x)
	case float32:
		writeFloat(b, float64(x))
	case string:
		b.WriteString(strconv.Quote(x))
	case []byte:
		writeBytesRepr(b, x)
	case Tuple:
		closing := ")"
		if len(x) == 1 {
			closing = ",)"
		}
		writeSeq(b, "(", closing, x, depth)
	case *List:
		writeSeq(b, "[", "]", x.Items, depth)
	case List:
		writeSeq(b, "[", "]", x.Items, depth)
	case *Dict:
		writeDictRepr(b, x, depth)
	case Global:
		b.WriteString(x.Module + "." + x.Name)
	case *Object:
		writeRepr(b, x.Class, depth+1)
		writeSeq(b, "(", ")", x.Args, depth)
	default:
		if i, ok := asBigInt(v); ok {
			b.WriteString(i.String())
			return
		}
		fmt.Fprintf(b, "<%T>", v)
	}
}

func writeFloat(b *strings.Builder, f float64) {
	switch {
	case math.IsInf(f, 1):
		b.WriteString("inf")
	case math.IsInf(f, -1):
		b.WriteString("-inf")
	case math.IsNaN(f):
		b.WriteString("nan")
	default:
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		b.WriteString(s)
	}
}

func writeBytesRepr(b *strings.Builder, p []byte) {
	b.WriteString("b'")
	for _, c := range p {
		switch {
		case c == '\\' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(b, "\\x%02x", c)
		}
		if b.Len() > reprMax {
			return
		}
	}
	b.WriteByte('\'')
}

func writeSeq(b *strings.Builder, open, closing string, items []any, depth int) {
	b.WriteString(open)
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		if b.Len() > reprMax {
			return
		}
		writeRepr(b, it, depth+1)
	}
	b.WriteString(closing)
}

func writeDictRepr(b *strings.Builder, d *Dict, depth int) {
	b.WriteString("{")
	for i, it := range d.items {
		if i > 0 {
			b.WriteString(", ")
		}
		if b.Len() > reprMax {
			return
		}
		writeRepr(b, it.Key, depth+1)
		b.WriteString(": ")
		writeRepr(b, it.Value, depth+1)
	}
	b.WriteString("}")
}

// typeName names a value's Python type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil, None:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case []byte:
		return "bytes"
	case string:
		return "str"
	case Tuple:
		return "tuple"
	case *List, List:
		return "list"
	case *Dict:
		return "dict"
	case Global:
		return "global"
	case *Object:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
