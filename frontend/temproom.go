package frontend

import "sync/atomic"

// tempRoom bounds what a kind of temporary file holds at once, across
// reloads: request bodies (max_body_temp_total) and spooled responses
// (max_temp_total) each have one.
type tempRoom struct {
	inUse *atomic.Int64 // bytes held now (a metric reads it)
	total int64
}

// take counts n more bytes in the room, if they fit (compare and swap: an
// add undone on failure would let two files near the bound see each
// other's overshoot, and refuse both).
func (r *tempRoom) take(n int64) bool {
	for {
		used := r.inUse.Load()
		if used+n > r.total {
			return false
		}
		if r.inUse.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// give gives n bytes back.
func (r *tempRoom) give(n int64) { r.inUse.Add(-n) }
