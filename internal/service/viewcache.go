package service

import (
	"sync"

	"fledge.dev/fledge/internal/pipeline"
)

// maxDecoded bounds the cache of decoded deployments: enough for the
// pages people look at (the console's lists, a pipeline's history) and
// the deployments under way, 10,000 at the scale one server is sized for
// (BENCHMARKS.md §5); an entry takes about 1 KiB.
const maxDecoded = 16384

// decoded is a deployment row's plan head and state, decoded.
type decoded struct {
	version int64
	plan    pipeline.Plan
	state   *pipeline.State
}

// decodeCache keeps decoded deployments by id and row version: a row's
// plan never changes and its state changes only with its version, so an
// entry of the same version is what decoding would give again. Readers
// treat the entries as read-only.
type decodeCache struct {
	mu sync.Mutex
	m  map[int64]decoded
}

func (c *decodeCache) get(id, version int64) (decoded, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[id]
	return d, ok && d.version == version
}

// latest returns the entry of id whatever its version.
func (c *decodeCache) latest(id int64) (decoded, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[id]
	return d, ok
}

func (c *decodeCache) put(id int64, d decoded) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64]decoded{}
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= maxDecoded {
		for k := range c.m { // an arbitrary entry makes room
			delete(c.m, k)
			break
		}
	}
	c.m[id] = d
}
