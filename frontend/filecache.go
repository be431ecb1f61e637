package frontend

import (
	"hash/maphash"

	"github.com/dgraph-io/ristretto/v2"
)

// fileCache keeps small static files in memory, bounded by total bytes, with
// ristretto's admission policy deciding which files stay (frequently asked
// files win over a scan of rarely asked ones).
type fileCache struct {
	maxFile int64 // larger files are streamed, never cached
	seed    maphash.Seed
	c       *ristretto.Cache[uint64, *staticFile] // by fileKey's hash
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
		fc.c.Set(fc.hash(key), e, cost)
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
