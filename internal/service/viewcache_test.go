package service

import "testing"

func TestDecodeCache(t *testing.T) {
	var c decodeCache
	c.put(1, decoded{version: 3})
	for _, tc := range []struct {
		name        string
		id, version int64
		hit         bool
	}{
		{"same version", 1, 3, true},
		{"row updated since", 1, 4, false},
		{"older version", 1, 2, false},
		{"other deployment", 2, 3, false},
	} {
		if _, hit := c.get(tc.id, tc.version); hit != tc.hit {
			t.Errorf("%s: get(%d, %d) hit = %v, want %v", tc.name, tc.id, tc.version, hit, tc.hit)
		}
	}

	// Newer versions replace the entry; the cache never holds more than
	// maxDecoded entries.
	c.put(1, decoded{version: 4})
	if _, hit := c.get(1, 4); !hit {
		t.Error("the newer version is not cached")
	}
	for id := int64(2); id <= 2*maxDecoded; id++ {
		c.put(id, decoded{version: 1})
	}
	if n := len(c.m); n != maxDecoded {
		t.Errorf("cache holds %d entries, want the bound %d", n, maxDecoded)
	}
	if _, hit := c.get(2*maxDecoded, 1); !hit {
		t.Error("the entry just put is not cached")
	}
}
