package client

// Waiters counts the callers waiting for replies, for tests that need to
// know a call is in flight.
func Waiters(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.pending {
		n += len(p.waiters)
	}
	return n
}

// Pending counts the calls waiting for replies.
func Pending(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}
