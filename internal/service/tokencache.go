package service

import (
	"sync"
	"time"

	"fledge.dev/fledge/internal/auth"
)

// maxCachedTokens bounds the token cache: far more tokens than a server
// sees in use at once. A full cache starts over.
const maxCachedTokens = 1024

// cachedToken is what authenticating a stored token gives, kept to be
// given again while the tokens revision it was read at is current.
type cachedToken struct {
	principal auth.Principal
	expiresAt *time.Time
	// invalid, when set, is why the token's roles do not parse.
	invalid error
}

// tokenCache keeps authenticated tokens by the SHA-256 of their secret.
// Every entry was read at one tokens revision: a change to any token (on
// any server sharing the store) moves the revision, and the next lookup,
// which passes the current revision, finds the cache empty. Unknown
// tokens are never kept, so guessing cannot fill it. Readers treat the
// entries as read-only.
type tokenCache struct {
	mu       sync.Mutex
	revision int64
	m        map[[32]byte]cachedToken
}

// get returns the entry of hash if it was read at revision.
func (c *tokenCache) get(hash [32]byte, revision int64) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revision != revision {
		return cachedToken{}, false
	}
	t, ok := c.m[hash]
	return t, ok
}

// latest returns the entry of hash and the revision it was read at,
// whatever the current revision is.
func (c *tokenCache) latest(hash [32]byte) (cachedToken, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[hash]
	return t, c.revision, ok
}

// put keeps t, read at revision. An entry older than the cache's revision
// is dropped; a newer one empties the cache first.
func (c *tokenCache) put(hash [32]byte, revision int64, t cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case revision < c.revision:
		return
	case revision > c.revision || c.m == nil || len(c.m) >= maxCachedTokens:
		c.revision, c.m = revision, map[[32]byte]cachedToken{}
	}
	c.m[hash] = t
}
