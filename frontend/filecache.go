package frontend

import (
	"hash/maphash"
	"os"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// fileCache keeps small static files in memory, bounded by total bytes, with
// ristretto's admission policy deciding which files stay (frequently asked
// files win over a scan of rarely asked ones).
type fileCache struct {
	maxFile int64 // larger files are streamed, never cached
	seed    maphash.Seed
	c       *ristretto.Cache[uint64, *staticFile] // by fileKey's hash
	kept    atomic.Int32                          // files kept open (keepFile)
}

// A cached file of sendfileMin bytes or more keeps its open file while it
// is cached, up to maxKeptFiles of them, for the event loops to send with
// sendfile: the body then goes from the page cache, whose pages stay hot
// for every answer, where a copy from memory goes through new socket
// buffers each time. On the benchmark machine's loopback that halved the
// client's cost of copying a 20 KB answer in (wrk's CPU per request
// against nginx's sendfile had been 7 % lower than against cairn's
// writev). Smaller files cost less to copy than the extra system call.
const (
	sendfileMin  = 8 << 10
	maxKeptFiles = 1024
)

// keepFile keeps f, the file e's body was read from, in e (see
// staticFile.file); false when it does not (f is then the caller's to
// close).
func (fc *fileCache) keepFile(e *staticFile, f *os.File) bool {
	if e.size < sendfileMin || fc.kept.Add(1) > maxKeptFiles {
		if e.size >= sendfileMin {
			fc.kept.Add(-1)
		}
		return false
	}
	raw, err := f.SyscallConn()
	if err != nil {
		fc.kept.Add(-1)
		return false
	}
	e.file, e.fileRaw, e.kept = f, raw, &fc.kept
	return true
}

// fileKey names a cached file: the route's folder, the cleaned path below
// it, the index file's name, and whether the file was asked for as a
// folder. The cache holds entries by its hash, and an entry found is
// checked against the whole key (two keys with one hash would share a
// place in the cache, never an answer): ristretto takes only strings and
// numbers as keys, and joining the pieces into one string allocated on
// every request (with path cleaning, half of the static path's garbage,
// so half its collections).
type fileKey struct {
	dir, name, index string
	folder           bool
}

func (k fileKey) size() int { return len(k.dir) + len(k.name) + len(k.index) }

// newFileCache returns a cache of at most size bytes, or nil when size is 0.
func newFileCache(size, maxFile int64) (*fileCache, error) {
	if size <= 0 {
		return nil, nil
	}
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *staticFile]{
		// ~10 counters per expected 4 KiB file, for up to about 100,000
		// files: the counters take memory whatever is cached, and 8G of
		// cache would have asked for 20 million.
		NumCounters: min(max(10*size/(4<<10), 1000), 1<<20),
		MaxCost:     size,
		// Once per Set taken, whether the entry was then refused,
		// evicted, deleted or replaced (by itself too, when set again
		// with its compressed forms); with nil for a Del of nothing.
		OnExit: func(e *staticFile) {
			if e != nil {
				e.release()
			}
		},
		// Gets are counted for the admission policy in per-processor
		// batches of BufferItems, each handed to the policy's goroutine;
		// with ristretto's suggested 64 that woke it every 64 hits, and
		// the scheduler's trace showed the event loops waiting a quarter
		// of their time behind those wake-ups. 4096 (32 KiB a batch)
		// keeps the counts and wakes it 64 times less.
		BufferItems: 4096,
	})
	if err != nil {
		return nil, err
	}
	return &fileCache{maxFile: maxFile, seed: maphash.MakeSeed(), c: c}, nil
}

func (fc *fileCache) hash(k fileKey) uint64 {
	var h maphash.Hash
	h.SetSeed(fc.seed)
	h.WriteString(k.dir)
	h.WriteByte(0)
	h.WriteString(k.name)
	h.WriteByte(0)
	h.WriteString(k.index)
	if k.folder {
		h.WriteByte('/')
	}
	return h.Sum64()
}

func (fc *fileCache) get(key fileKey) (*staticFile, bool) {
	if fc == nil {
		return nil, false
	}
	e, ok := fc.c.Get(fc.hash(key))
	if !ok || e.key != key {
		return nil, false
	}
	return e, true
}

// set adds or updates e, at the cost of its body and the compressed forms
// it holds.
func (fc *fileCache) set(key fileKey, e *staticFile) {
	if fc != nil {
		cost := int64(len(e.body)) + int64(key.size()) + 256
		for i := range e.encoded {
			if b := e.encoded[i].Load(); b != nil {
				cost += int64(len(*b))
			}
		}
		e.holds.Add(1)
		if !fc.c.Set(fc.hash(key), e, cost) {
			e.release() // dropped: no exit will come for it
		}
	}
}

func (fc *fileCache) del(key fileKey) {
	if fc != nil {
		fc.c.Del(fc.hash(key))
	}
}

func (fc *fileCache) close() {
	if fc != nil {
		fc.c.Close()
	}
}
