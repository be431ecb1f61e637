package load

import "bytes"

// respHead is what the event loop needs of a response head to find the
// response's end: fasthttp's ResponseHeader parses and stores every field,
// which was the largest user-space cost of a request (about a tenth of the
// generator's CPU); this reads four things and skips the rest.
type respHead struct {
	status  int
	length  int  // Content-Length; -1 none
	chunked bool // Transfer-Encoding: chunked
	close   bool // the connection ends after this response (said so, or the body runs to its end)
}

// parseHead parses a complete response head (status line, fields, and the
// empty line). ok is false for anything malformed.
func parseRespHead(b []byte) (h respHead, ok bool) {
	line, rest, found := bytes.Cut(b, []byte("\r\n"))
	if !found || bareEOL(line) || len(line) < len("HTTP/1.1 200") || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return h, false
	}
	minor := line[7]
	if minor != '0' && minor != '1' {
		return h, false
	}
	if len(line) > 12 && line[12] != ' ' {
		return h, false
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return h, false
		}
		h.status = h.status*10 + int(d-'0')
	}
	if h.status < 100 {
		return h, false
	}
	h.length = -1
	h.close = minor == '0' // HTTP/1.0 closes unless it says keep-alive
	for {
		line, rest, found = bytes.Cut(rest, []byte("\r\n"))
		if !found {
			return h, false
		}
		if bareEOL(line) { // bare line ends: refused, not guessed at
			return h, false
		}
		if len(line) == 0 {
			if !h.chunked && h.length < 0 && h.status >= 200 && h.status != 204 && h.status != 304 {
				h.close = true // the body runs to the end of the connection
			}
			return h, len(rest) == 0
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || len(name) == 0 || name[len(name)-1] == ' ' || name[len(name)-1] == '\t' {
			return h, false
		}
		// Lengths first: most fields are none of the three.
		switch len(name) {
		case len("Content-Length"), len("Transfer-Encoding"), len("Connection"):
		default:
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if h.length >= 0 || len(value) == 0 || len(value) > 15 {
				return h, false // a repeated length could desynchronise the stream
			}
			n := 0
			for _, d := range value {
				if d < '0' || d > '9' {
					return h, false
				}
				n = n*10 + int(d-'0')
			}
			h.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.chunked = minor == '1' && hasToken(value, "chunked") // HTTP/1.0 has no chunked coding
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case hasToken(value, "close"):
				h.close = true
			case hasToken(value, "keep-alive"):
				h.close = false
			}
		}
	}
}

// hasToken reports whether the comma-separated list v holds token, in any
// case.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var item []byte
		item, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(item), []byte(token)) {
			return true
		}
	}
	return false
}

// bareEOL reports whether a line holds a CR or LF of its own.
func bareEOL(line []byte) bool {
	return bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0
}
