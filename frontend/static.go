package frontend

import (
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
	"time"

	"github.com/valyala/fasthttp"
)

// staticRoot serves files below one folder. It opens files through os.Root,
// which refuses any path that leaves the folder, by "..", by an absolute
// symlink or by a relative one that climbs out: traversal is stopped by the
// kernel-facing API rather than by string checks alone.
type staticRoot struct {
	dir  string
	root *os.Root
}

func openStaticRoot(dir string) (*staticRoot, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("static folder: %w", err)
	}
	return &staticRoot{dir: dir, root: r}, nil
}

func (s *staticRoot) close() { _ = s.root.Close() }

// errNotFound is answered 404; errForbidden 403.
var (
	errNotFound  = errors.New("not found")
	errForbidden = errors.New("forbidden")
)

// open resolves a decoded request path below the root, following the index
// file for folders.
func (s *staticRoot) open(rel, index string) (*os.File, fs.FileInfo, error) {
	if strings.IndexByte(rel, 0) >= 0 {
		return nil, nil, errNotFound
	}
	name := strings.TrimPrefix(path.Clean("/"+rel), "/")
	if name == "" {
		name = "."
	}
	for range 2 {
		f, err := s.root.Open(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, errNotFound
			}
			return nil, nil, errForbidden // escapes, permissions, loops
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, errForbidden
		}
		if !fi.IsDir() {
			if !fi.Mode().IsRegular() {
				f.Close()
				return nil, nil, errForbidden
			}
			return f, fi, nil
		}
		f.Close()
		name = filepath.Join(name, index)
	}
	return nil, nil, errNotFound
}

// serveStatic answers GET and HEAD with a file: ETag and Last-Modified with
// conditional 304, a single byte range (206/416), Content-Type by extension,
// and the route's cache headers. The body is streamed from the open file,
// which fasthttp copies to the socket with sendfile where it can.
func (f *Frontend) serveStatic(ctx *fasthttp.RequestCtx, r *route, rel string) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("method not allowed\n", fasthttp.StatusMethodNotAllowed) // resets headers: set Allow after
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		return
	}
	file, fi, err := r.static.open(rel, r.Index)
	if err != nil {
		if errors.Is(err, errNotFound) {
			ctx.Error("not found\n", fasthttp.StatusNotFound)
		} else {
			ctx.Error("forbidden\n", fasthttp.StatusForbidden)
		}
		return
	}
	size := fi.Size()
	mod := fi.ModTime().UTC().Truncate(time.Second)
	etag := `"` + strconv.FormatInt(mod.Unix(), 16) + "-" + strconv.FormatInt(size, 16) + `"`
	h := &ctx.Response.Header
	h.Set("ETag", etag)
	h.Set("Last-Modified", mod.Format(http1Date))
	h.Set("Accept-Ranges", "bytes")
	setCacheHeaders(ctx, r)
	ctype := mime.TypeByExtension(filepath.Ext(fi.Name()))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.SetContentType(ctype)

	if notModified(ctx, etag, mod) {
		file.Close()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	start, length, status := byteRange(ctx, size, etag, mod)
	switch status {
	case fasthttp.StatusRequestedRangeNotSatisfiable:
		file.Close()
		ctx.Error("range not satisfiable\n", status) // resets headers: set Content-Range after
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return
	case fasthttp.StatusPartialContent:
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, size))
	}
	ctx.SetStatusCode(status)
	if ctx.IsHead() {
		file.Close()
		ctx.Response.SkipBody = true
		h.SetContentLength(int(length))
		return
	}
	if f.compressible(ctx, ctype, length) && status == fasthttp.StatusOK && length <= maxCompressStatic {
		body, err := io.ReadAll(io.LimitReader(file, length))
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
	if length < size {
		ctx.SetBodyStream(&limitedFile{f: file, r: io.LimitReader(file, length)}, int(length))
		return
	}
	ctx.SetBodyStream(file, int(length))
}

// maxCompressStatic is the largest static file compressed on the fly; larger
// compressible files are sent as they are.
const maxCompressStatic = 1 << 20

// limitedFile streams part of a file and closes it when fasthttp is done.
// It deliberately hides *os.File's WriteTo, which would send past the range.
type limitedFile struct {
	f *os.File
	r io.Reader
}

func (l *limitedFile) Read(p []byte) (int, error) { return l.r.Read(p) }
func (l *limitedFile) Close() error               { return l.f.Close() }

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
		if n == 0 {
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

// setCacheHeaders applies a route's cache_control and expires.
func setCacheHeaders(ctx *fasthttp.RequestCtx, r *route) {
	if r.Expires.D() > 0 {
		ctx.Response.Header.Set("Expires", time.Now().Add(r.Expires.D()).UTC().Format(http1Date))
		if r.CacheControl == "" {
			ctx.Response.Header.Set("Cache-Control", "max-age="+strconv.FormatInt(int64(r.Expires.D()/time.Second), 10))
		}
	}
	if r.CacheControl != "" {
		ctx.Response.Header.Set("Cache-Control", r.CacheControl)
	}
}
