package service

import (
	"reflect"
	"slices"
	"sync"
	"time"

	"fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
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

// maxEncoded bounds the cache of encoded views: the deployments people
// and tools poll (a few KiB each).
const maxEncoded = 1024

// encodedView is a deployment's view as JSON with what it was built from.
type encodedView struct {
	row           store.Deployment // viewRow
	live          int64
	decisions     []store.Decision
	notifications []store.Notification
	attempts      []store.NotificationAttempt
	body          []byte
}

// encodedCache keeps encoded views by deployment id (GetDeploymentJSON).
type encodedCache struct {
	mu sync.Mutex
	m  map[int64]encodedView
}

// get returns the body encoded from a view equal to dv.
func (c *encodedCache) get(dv store.DeploymentView) ([]byte, bool) {
	c.mu.Lock()
	e, ok := c.m[dv.Deployment.ID]
	c.mu.Unlock()
	if !ok || e.row.Version != dv.Deployment.Version || e.live != dv.LiveID ||
		!reflect.DeepEqual(e.row, viewRow(dv.Deployment)) ||
		!slices.Equal(e.decisions, dv.Decisions) || !slices.Equal(e.notifications, dv.Notifications) ||
		!slices.Equal(e.attempts, dv.Attempts) {
		return nil, false
	}
	return e.body, true
}

func (c *encodedCache) put(dv store.DeploymentView, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64]encodedView{}
	}
	id := dv.Deployment.ID
	if _, ok := c.m[id]; !ok && len(c.m) >= maxEncoded {
		for k := range c.m { // an arbitrary entry makes room
			delete(c.m, k)
			break
		}
	}
	c.m[id] = encodedView{
		row: viewRow(dv.Deployment), live: dv.LiveID,
		decisions: dv.Decisions, notifications: dv.Notifications, attempts: dv.Attempts, body: body,
	}
}

// viewRow is d without what the view does not show (the lease, the next
// wake-up, the time of the last write) and without its plan and state,
// which its version stands for. Not every change of the rest moves the
// version (a cancel request does not), so an encoded view is reused only
// for an equal row.
func viewRow(d store.Deployment) store.Deployment {
	d.Plan, d.State = nil, nil
	d.LeaseOwner, d.LeaseExpires, d.WakeAt, d.UpdatedAt = "", nil, nil, time.Time{}
	return d
}
