package frontend

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// staticRoot serves files below one folder. It opens files through os.Root,
// which refuses any path that leaves the folder, by "..", by an absolute
// symlink or by a relative one that climbs out: traversal is stopped by the
// kernel-facing API rather than by string checks alone.
//
// Small files are kept in memory (with their compressed forms) in a cache
// shared by the router's static routes; an entry is checked against the
// file's size and modification time at most once a second, so an edited
// file is served new within a second, as with nginx's open_file_cache_valid.
type staticRoot struct {
	dir   string
	root  *os.Root
	cache *fileCache // nil: no caching
}

func openStaticRoot(dir string, cache *fileCache) (*staticRoot, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("static folder: %w", err)
	}
	return &staticRoot{dir: dir, root: r, cache: cache}, nil
}

func (s *staticRoot) close() { _ = s.root.Close() }

// errNotFound is answered 404; errForbidden 403; errFolder, a folder
// asked for without its final slash, 301 to the path with it.
var (
	errNotFound  = errors.New("not found")
	errForbidden = errors.New("forbidden")
	errFolder    = errors.New("a folder")
)

// staticFile is what a response needs from a file, derived once: the
// resolved name, validators, type, and for small files the content.
type staticFile struct {
	name    string  // below the root, after the index file
	key     fileKey // in the file cache
	size    int64
	ino     uint64 // a file replaced by another of the same size and second is another
	mod     time.Time
	mtime   int64 // the modification time in nanoseconds: a rewrite within mod's second shows in it
	etag    string
	lastMod string
	ctype   string
	body    []byte // whole content of a cached file; nil when streamed

	checked atomic.Int64              // unix nanoseconds of the last stat
	encoded [2]atomic.Pointer[[]byte] // br, gzip forms of body, made on first use

	// file is the open file of a cached body of at least sendfileMin
	// bytes, kept while the cache holds the entry (holds: the cache's
	// Sets not yet matched by their exit), for the event loops to send
	// with sendfile. The loops reach its descriptor only through
	// fileRaw.Control, which keeps it from being closed under them;
	// once it is closed they send body instead.
	file    *os.File
	fileRaw syscall.RawConn
	holds   atomic.Int32
	kept    *atomic.Int32 // the cache's count of kept files, while file is kept
	closed  atomic.Bool   // file closed: once, though an entry let go may be set again
}

// release ends one of the cache's holds on e, closing its file after the
// last.
func (e *staticFile) release() {
	if e.holds.Add(-1) == 0 && e.file != nil && e.closed.CompareAndSwap(false, true) {
		_ = e.file.Close()
		e.kept.Add(-1)
	}
}

// lookup resolves a decoded request path. A cached file comes back with a
// nil *os.File; otherwise the open file is returned for streaming (or, if
// it is small, read into the cache and closed). As in nginx, a folder is
// served (its index file) only when asked for with a final slash (folder);
// without, it is errFolder (the page's relative links would miss), and a
// file asked for with one is not found.
func (s *staticRoot) lookup(rel, index string, folder bool, now time.Time) (*staticFile, *os.File, error) {
	if strings.IndexByte(rel, 0) >= 0 {
		return nil, nil, errNotFound
	}
	key := fileKey{dir: s.dir, name: cleanName(rel), index: index, folder: folder}
	name := key.name
	if e, ok := s.cache.get(key); ok {
		if now.UnixNano()-e.checked.Load() < int64(time.Second) || s.unchanged(e, now) {
			return e, nil, nil
		}
		s.cache.del(key)
	}
	f, fi, name, err := s.open(name, index, folder)
	if err != nil {
		return nil, nil, err
	}
	e := newStaticFile(name, fi, now)
	if s.cache == nil || fi.Size() > s.cache.maxFile {
		return e, f, nil
	}
	body, err := io.ReadAll(io.LimitReader(f, fi.Size()+1))
	if err != nil || int64(len(body)) != fi.Size() {
		f.Close()
		return nil, nil, errForbidden // changed or unreadable while we read it
	}
	e.body, e.key = body, key
	if !s.cache.keepFile(e, f) {
		f.Close()
	}
	s.cache.set(key, e)
	return e, nil, nil
}

// cleanName is rel cleaned as a path below the root, without its leading
// slash: rel itself (less that slash) when it is clean already, as nearly
// every request's is (path.Clean would copy it).
func cleanName(rel string) string {
	rel = strings.TrimPrefix(rel, "/") // a route's rest begins with one
	clean := !strings.HasPrefix(rel, "/") && !strings.HasSuffix(rel, "/")
	for seg := range strings.SplitSeq(rel, "/") {
		if !clean {
			break
		}
		clean = seg != "" && seg != "." && seg != ".." || rel == ""
	}
	if clean {
		return rel
	}
	return strings.TrimPrefix(path.Clean("/"+rel), "/")
}

// unchanged stats a cached file again and reports whether it is the same.
func (s *staticRoot) unchanged(e *staticFile, now time.Time) bool {
	fi, err := s.root.Stat(e.name)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != e.size || inode(fi) != e.ino || fi.ModTime().UnixNano() != e.mtime {
		return false
	}
	e.checked.Store(now.UnixNano())
	return true
}

func newStaticFile(name string, fi fs.FileInfo, now time.Time) *staticFile {
	mod := fi.ModTime().UTC().Truncate(time.Second)
	ctype := mime.TypeByExtension(filepath.Ext(fi.Name()))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	e := &staticFile{
		name: name, size: fi.Size(), ino: inode(fi), mod: mod, mtime: fi.ModTime().UnixNano(), ctype: ctype,
		etag:    `"` + strconv.FormatInt(mod.Unix(), 16) + "-" + strconv.FormatInt(fi.Size(), 16) + `"`,
		lastMod: mod.Format(http1Date),
	}
	e.checked.Store(now.UnixNano())
	return e
}

// inode is a file's inode number (0 where the system has none).
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// open opens name below the root, following the index file for a folder
// asked for as one (lookup).
func (s *staticRoot) open(name, index string, folder bool) (*os.File, fs.FileInfo, string, error) {
	if name == "" {
		name = "."
	}
	for i := range 2 {
		f, err := s.root.Open(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, "", errNotFound
			}
			return nil, nil, "", errForbidden // escapes, permissions, loops
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, "", errForbidden
		}
		if !fi.IsDir() {
			switch {
			case !fi.Mode().IsRegular():
				f.Close()
				return nil, nil, "", errForbidden
			case folder && i == 0: // "file.txt/"
				f.Close()
				return nil, nil, "", errNotFound
			}
			return f, fi, name, nil
		}
		f.Close()
		if !folder {
			return nil, nil, "", errFolder
		}
		name = filepath.Join(name, index)
	}
	return nil, nil, "", errNotFound
}

// serveStatic answers GET and HEAD with a file: ETag and Last-Modified with
// conditional 304, a single byte range (206/416), Content-Type by extension,
// and the route's cache headers. Small files come from memory; larger ones
// are streamed from the open file, which fasthttp copies to the socket with
// sendfile where it can.
func (f *Frontend) serveStatic(ctx *fasthttp.RequestCtx, r *route, rel string) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("method not allowed\n", fasthttp.StatusMethodNotAllowed) // resets headers: set Allow after
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		return
	}
	e, file, err := r.static.lookup(rel, r.Index, bytes.HasSuffix(ctx.Path(), []byte("/")), time.Now())
	if err != nil {
		switch {
		case errors.Is(err, errFolder):
			ctx.Response.Header.Set("Location", slashLocation(ctx))
			ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
		case errors.Is(err, errNotFound):
			ctx.Error("not found\n", fasthttp.StatusNotFound)
		default:
			ctx.Error("forbidden\n", fasthttp.StatusForbidden)
		}
		return
	}
	closeFile := func() {
		if file != nil {
			file.Close()
		}
	}
	h := &ctx.Response.Header
	h.Set("ETag", e.etag)
	h.Set("Last-Modified", e.lastMod)
	h.Set("Accept-Ranges", "bytes")
	setCacheHeaders(ctx, r, e.mod)
	h.SetContentType(e.ctype)

	if notModified(ctx, e.etag, e.mod) {
		// With the Vary the full answer would have (RFC 9110 §15.4.5).
		f.compressibleFile(ctx, e.ctype, e.size)
		closeFile()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	start, length, status := byteRange(ctx, e.size, e.etag, e.mod)
	switch status {
	case fasthttp.StatusRequestedRangeNotSatisfiable:
		closeFile()
		ctx.Error("range not satisfiable\n", status) // resets headers: set Content-Range after
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(e.size, 10))
		return
	case fasthttp.StatusPartialContent:
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, e.size))
	}
	ctx.SetStatusCode(status)
	if ctx.IsHead() {
		closeFile()
		ctx.Response.SkipBody = true
		h.SetContentLength(int(length))
		return
	}
	if file == nil {
		f.sendCached(ctx, r.static, e, start, length, status)
		return
	}
	if status == fasthttp.StatusOK && f.compressibleFile(ctx, e.ctype, length) &&
		acceptedEncoding(ctx.Request.Header.Peek("Accept-Encoding")) != "" {
		// Read it so that compress (after the route) can encode it.
		body := make([]byte, length)
		_, err := io.ReadFull(file, body)
		file.Close()
		if err != nil {
			ctx.Error("read error\n", fasthttp.StatusInternalServerError)
			return
		}
		ctx.SetBody(body)
		return
	}
	if start > 0 {
		if _, err := file.Seek(start, io.SeekStart); err != nil {
			file.Close()
			ctx.Error("read error\n", fasthttp.StatusInternalServerError)
			return
		}
	}
	ctx.SetBodyStream(&sentFile{f: file, remaining: length}, int(length))
}

// sendCached answers from a cached file's memory, compressed (once per
// file and encoding) when the client accepts it.
func (f *Frontend) sendCached(ctx *fasthttp.RequestCtx, s *staticRoot, e *staticFile, start, length int64, status int) {
	if status == fasthttp.StatusOK && f.compressibleFile(ctx, e.ctype, e.size) {
		if enc := acceptedEncoding(ctx.Request.Header.Peek("Accept-Encoding")); enc != "" {
			setEncoded(&ctx.Response, enc, s.encoded(e, enc))
			return
		}
	}
	// The cached slice is never written to, so it is handed over without a copy.
	ctx.Response.SetBodyRaw(e.body[start : start+length])
}

// encoded is a cached file's body compressed with enc, made on first use
// and kept with it; the cache then counts it in the entry's cost, so that
// static_cache bounds the compressed forms too.
func (s *staticRoot) encoded(e *staticFile, enc string) []byte {
	i := 0
	if enc == "gzip" {
		i = 1
	}
	if body := e.encoded[i].Load(); body != nil {
		return *body
	}
	b := encode(enc, e.body)
	e.encoded[i].Store(&b)
	if e.holds.Load() > 0 {
		// Set again, to be counted with its new form; not when the cache
		// has let it go meanwhile (refused or evicted): that would bring
		// back an entry a newer one for its file may have replaced.
		s.cache.set(e.key, e)
	}
	return b
}

// maxCompressStatic is the largest static file compressed on the fly;
// larger compressible files are sent as they are.
const maxCompressStatic = 1 << 20

// compressibleFile is compressible for a static file: one the frontend
// compresses (and marks with Vary) when it is of a compressible type and
// no larger than maxCompressStatic, cached or not, for a 200 or its 304.
func (f *Frontend) compressibleFile(ctx *fasthttp.RequestCtx, ctype string, size int64) bool {
	return size <= maxCompressStatic && f.compressible(&ctx.Response.Header, ctype, size)
}

// sentFile is a static file sent from disk, or a range of it from the
// file's offset: with sendfile where the connection allows (WriteTo hands
// fasthttp's body writer the file within the range; os.File's own WriteTo
// would send past a range), and counted, so that the access log has the
// bytes sent, not the file's size, when the client leaves before the end.
// fasthttp closes it when the response is over.
type sentFile struct {
	f         *os.File
	remaining int64
	sentBytes
}

func (s *sentFile) Read(p []byte) (int, error) {
	if s.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.remaining {
		p = p[:s.remaining]
	}
	n, err := s.f.Read(p)
	s.remaining -= int64(n)
	s.n += int64(n)
	return n, err
}

func (s *sentFile) WriteTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		return io.Copy(w, readerOnly{s})
	}
	n, err := rf.ReadFrom(&io.LimitedReader{R: s.f, N: s.remaining})
	s.remaining -= n
	s.n += n
	return n, err
}

func (s *sentFile) CloseWithError(error) error {
	s.report()
	return s.f.Close()
}

const http1Date = "Mon, 02 Jan 2006 15:04:05 GMT"

// notModified applies If-None-Match (preferred) or If-Modified-Since.
func notModified(ctx *fasthttp.RequestCtx, etag string, mod time.Time) bool {
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 {
		for _, t := range strings.Split(string(inm), ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == etag || t == "*" {
				return true
			}
		}
		return false
	}
	if ims := ctx.Request.Header.Peek("If-Modified-Since"); len(ims) > 0 {
		if t, err := time.Parse(http1Date, string(ims)); err == nil {
			return !mod.After(t)
		}
	}
	return false
}

// byteRange parses a single "bytes=" range (RFC 9110 §14). Several ranges,
// a malformed header, or an If-Range that no longer matches give the whole
// file; a range past the end gives 416.
func byteRange(ctx *fasthttp.RequestCtx, size int64, etag string, mod time.Time) (start, length int64, status int) {
	rh := string(ctx.Request.Header.Peek("Range"))
	if rh == "" || !strings.HasPrefix(rh, "bytes=") || strings.Contains(rh, ",") {
		return 0, size, fasthttp.StatusOK
	}
	if ir := string(ctx.Request.Header.Peek("If-Range")); ir != "" && ir != etag && ir != mod.Format(http1Date) {
		return 0, size, fasthttp.StatusOK
	}
	spec := strings.TrimSpace(strings.TrimPrefix(rh, "bytes="))
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, size, fasthttp.StatusOK
	}
	if first == "" { // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, size, fasthttp.StatusOK
		}
		if n == 0 || size == 0 { // no byte to send (an empty file has no last N)
			return 0, 0, fasthttp.StatusRequestedRangeNotSatisfiable
		}
		n = min(n, size)
		return size - n, n, fasthttp.StatusPartialContent
	}
	s, err := strconv.ParseInt(first, 10, 64)
	if err != nil || s < 0 {
		return 0, size, fasthttp.StatusOK
	}
	if s >= size {
		return 0, 0, fasthttp.StatusRequestedRangeNotSatisfiable
	}
	e := size - 1
	if last != "" {
		if e, err = strconv.ParseInt(last, 10, 64); err != nil || e < s {
			return 0, size, fasthttp.StatusOK
		}
		e = min(e, size-1)
	}
	return s, e - s + 1, fasthttp.StatusPartialContent
}

// setCacheHeaders applies a route's cache_control and expires; modified is
// the file's modification time (zero for a fixed answer).
func setCacheHeaders(ctx *fasthttp.RequestCtx, r *route, modified time.Time) {
	if r.Expires.D() > 0 {
		now := time.Now()
		from := now
		if r.ExpiresModified {
			from = modified
		}
		expires := from.Add(r.Expires.D())
		ctx.Response.Header.Set("Expires", expires.UTC().Format(http1Date))
		if r.CacheControl == "" {
			if left := expires.Sub(now) / time.Second; left > 0 {
				ctx.Response.Header.Set("Cache-Control", "max-age="+strconv.FormatInt(int64(left), 10))
			} else {
				ctx.Response.Header.Set("Cache-Control", "no-cache") // as nginx
			}
		}
	}
	if r.CacheControl != "" {
		ctx.Response.Header.Set("Cache-Control", r.CacheControl)
	}
}
