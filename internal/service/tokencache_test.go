package service

import "testing"

func TestTokenCache(t *testing.T) {
	var c tokenCache
	alice, bob := [32]byte{1}, [32]byte{2}
	c.put(alice, 5, cachedToken{})
	for _, tc := range []struct {
		name     string
		put      func()
		hash     [32]byte
		revision int64
		hit      bool
	}{
		{"same revision", nil, alice, 5, true},
		{"another token", nil, bob, 5, false},
		{"revision moved", nil, alice, 6, false},
		{"an entry read at an older revision is dropped", func() { c.put(bob, 4, cachedToken{}) }, bob, 4, false},
		{"the revision it was read at still holds the others", nil, alice, 5, true},
		{"an entry read at a newer revision empties the cache", func() { c.put(bob, 7, cachedToken{}) }, alice, 7, false},
		{"and is kept", nil, bob, 7, true},
	} {
		if tc.put != nil {
			tc.put()
		}
		if _, hit := c.get(tc.hash, tc.revision); hit != tc.hit {
			t.Errorf("%s: get(%x, %d) hit = %v, want %v", tc.name, tc.hash[:1], tc.revision, hit, tc.hit)
		}
	}
}

// TestTokenCacheBounded: a full cache starts over rather than grow.
func TestTokenCacheBounded(t *testing.T) {
	var c tokenCache
	for i := range maxCachedTokens + 10 {
		c.put([32]byte{byte(i), byte(i >> 8)}, 1, cachedToken{})
	}
	if n := len(c.m); n > maxCachedTokens {
		t.Fatalf("cache holds %d tokens, want at most %d", n, maxCachedTokens)
	}
}
