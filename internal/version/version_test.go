package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	toolchain := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "fledge.dev/fledge", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name           string
		ver, rev, date string
		bi             *debug.BuildInfo
		want           Info
		wantString     string
	}{
		{
			name: "stamped at link time", ver: "v0.3.0", rev: "fedcba9876543210fedcba9876543210fedcba98", date: "2026-02-03T04:05:06Z", bi: toolchain,
			want:       Info{Version: "v0.3.0", Revision: "fedcba9876543210fedcba9876543210fedcba98", BuildDate: "2026-02-03T04:05:06Z", GoVersion: "go1.26.0", Platform: platform},
			wantString: "fledge v0.3.0 (revision fedcba987654, built 2026-02-03T04:05:06Z, go1.26.0 " + platform + ")",
		},
		{
			name: "toolchain stamp only", bi: toolchain,
			want:       Info{Version: "devel", Revision: "0123456789abcdef0123456789abcdef01234567", BuildDate: "2026-01-02T03:04:05Z", GoVersion: "go1.26.0", Platform: platform, Modified: true},
			wantString: "fledge devel (revision 0123456789ab-dirty, built 2026-01-02T03:04:05Z, go1.26.0 " + platform + ")",
		},
		{
			name: "go install of a tagged module", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.2.1"}},
			want:       Info{Version: "v0.2.1", GoVersion: "go1.26.0", Platform: platform},
			wantString: "fledge v0.2.1 (go1.26.0 " + platform + ")",
		},
		{
			name: "no build info",
			want: Info{Version: "devel", GoVersion: runtime.Version(), Platform: platform},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.ver, tt.rev, tt.date, tt.bi)
			if got != tt.want {
				t.Fatalf("resolve:\n got %+v\nwant %+v", got, tt.want)
			}
			if tt.wantString != "" && got.String() != tt.wantString {
				t.Fatalf("String:\n got %q\nwant %q", got.String(), tt.wantString)
			}
		})
	}
}

func TestGetFromTestBinary(t *testing.T) {
	in := Get()
	if in.Version == "" || in.GoVersion == "" || in.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("Get() = %+v: version, Go version and platform are always known", in)
	}
}
