package frontend

import (
	"github.com/dgraph-io/ristretto/v2"
)

// fileCache keeps small static files in memory, bounded by total bytes, with
// ristretto's admission policy deciding which files stay (frequently asked
// files win over a scan of rarely asked ones).
type fileCache struct {
	maxFile int64 // larger files are streamed, never cached
	c       *ristretto.Cache[string, *staticFile]
}

// newFileCache returns a cache of at most size bytes, or nil when size is 0.
func newFileCache(size, maxFile int64) (*fileCache, error) {
	if size <= 0 {
		return nil, nil
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *staticFile]{
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
	return &fileCache{maxFile: maxFile, c: c}, nil
}

func (fc *fileCache) get(key string) (*staticFile, bool) {
	if fc == nil {
		return nil, false
	}
	return fc.c.Get(key)
}

// set adds or updates e, at the cost of its body and the compressed forms
// it holds.
func (fc *fileCache) set(key string, e *staticFile) {
	if fc != nil {
		cost := int64(len(e.body)) + int64(len(key)) + 256
		for i := range e.encoded {
			if b := e.encoded[i].Load(); b != nil {
				cost += int64(len(*b))
			}
		}
		fc.c.Set(key, e, cost)
	}
}

func (fc *fileCache) del(key string) {
	if fc != nil {
		fc.c.Del(key)
	}
}

func (fc *fileCache) close() {
	if fc != nil {
		fc.c.Close()
	}
}
