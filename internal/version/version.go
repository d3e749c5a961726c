// Package version reports which build of Fledge is running: the release
// version, the git revision and build date stamped in at link time, and
// the Go version. A binary built without the stamps (go build, go install)
// falls back to what the Go toolchain records in it (runtime/debug).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time by the Makefile and the image builder:
//
//	-ldflags "-X fledge.dev/fledge/internal/version.version=v0.3.0
//	          -X fledge.dev/fledge/internal/version.revision=<commit>
//	          -X fledge.dev/fledge/internal/version.buildDate=<RFC 3339>"
//
// Package-level variables are the only thing -X can set.
var (
	version   string
	revision  string
	buildDate string
)

// Info describes one build. Empty fields are unknown.
type Info struct {
	Version   string `json:"version" yaml:"version"`
	Revision  string `json:"revision,omitempty" yaml:"revision,omitempty"`
	BuildDate string `json:"buildDate,omitempty" yaml:"buildDate,omitempty"`
	GoVersion string `json:"goVersion" yaml:"goVersion"`
	Platform  string `json:"platform" yaml:"platform"`
	// Modified is true when the binary was built from a work tree with
	// uncommitted changes (known only from the Go toolchain's stamp).
	Modified bool `json:"modified,omitempty" yaml:"modified,omitempty"`
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, revision, buildDate, bi)
}

// resolve combines the link-time stamps with the toolchain's build info;
// stamps win.
func resolve(ver, rev, date string, bi *debug.BuildInfo) Info {
	in := Info{Version: ver, Revision: rev, BuildDate: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Revision == "" {
					in.Revision = s.Value
				}
			case "vcs.time":
				if in.BuildDate == "" {
					in.BuildDate = s.Value
				}
			case "vcs.modified":
				in.Modified = s.Value == "true" && rev == ""
			}
		}
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	return in
}

// String is the one-line form: "fledge v0.3.0 (revision 1a2b3c4d5e6f, built
// 2026-01-02T03:04:05Z, go1.26.0 linux/amd64)".
func (in Info) String() string {
	var parts []string
	if in.Revision != "" {
		r := in.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		if in.Modified {
			r += "-dirty"
		}
		parts = append(parts, "revision "+r)
	}
	if in.BuildDate != "" {
		parts = append(parts, "built "+in.BuildDate)
	}
	parts = append(parts, in.GoVersion+" "+in.Platform)
	return fmt.Sprintf("fledge %s (%s)", in.Version, strings.Join(parts, ", "))
}
