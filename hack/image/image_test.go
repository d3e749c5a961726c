package main

import (
	"archive/tar"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestImage builds the real two-platform image, writes it as an OCI
// layout, pushes it to an in-process registry, pulls it back and checks
// what a container runtime would run; the amd64 binary in it must run.
func TestImage(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Root: root, Platforms: []string{"linux/amd64", "linux/arm64"},
		Version: "v9.8.7", Revision: "0123456789abcdef0123456789abcdef01234567", BuildDate: "2026-01-02T03:04:05Z",
		Source: "https://fledge.dev/fledge", CACerts: caPath, WorkDir: t.TempDir(),
	}
	idx, err := Build(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		t.Fatalf("OCI layout: %v", err)
	}
	fromLayout, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := fromLayout.IndexManifest()
	if err != nil || len(lm.Manifests) != 1 {
		t.Fatalf("the layout's index should hold the image index: %v %+v", err, lm)
	}
	written, err := fromLayout.ImageIndex(lm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/fledge/fledge:v9.8.7", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, written, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push: %v", err)
	}
	pulled, err := remote.Index(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	want, _ := idx.Digest()
	if got, _ := pulled.Digest(); got != want {
		t.Fatalf("pulled index %s, built %s", got, want)
	}
	m, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range m.Manifests {
		platforms = append(platforms, d.Platform.String())
	}
	if strings.Join(platforms, ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("platforms %v", platforms)
	}
	for _, d := range m.Manifests {
		img, err := pulled.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if d.Platform.Architecture != cf.Architecture || cf.OS != "linux" {
			t.Errorf("%s: config says %s/%s", d.Platform, cf.OS, cf.Architecture)
		}
		if strings.Join(c.Entrypoint, " ") != "/usr/local/bin/fledge" || strings.Join(c.Cmd, " ") != "serve --listen=:8080" {
			t.Errorf("%s: entrypoint %q cmd %q", d.Platform, c.Entrypoint, c.Cmd)
		}
		if c.User != "65532:65532" {
			t.Errorf("%s: user %q, want the non-root 65532:65532", d.Platform, c.User)
		}
		for k, v := range map[string]string{
			"org.opencontainers.image.version":  "v9.8.7",
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.source":   o.Source,
			"org.opencontainers.image.created":  o.BuildDate,
		} {
			if c.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", d.Platform, k, c.Labels[k], v)
			}
		}
		if !cf.Created.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("%s: created %s", d.Platform, cf.Created)
		}
		files := extract(t, img, t.TempDir())
		for _, f := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/passwd", "usr/local/bin/fledge"} {
			if _, ok := files[f]; !ok {
				t.Errorf("%s: no /%s in the image", d.Platform, f)
			}
		}
		if d.Platform.Architecture != runtime.GOARCH || runtime.GOOS != "linux" {
			continue
		}
		// The binary is static (it runs on scratch) and stamped.
		out, err := exec.CommandContext(t.Context(), files["usr/local/bin/fledge"], "version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Client: fledge v9.8.7 (revision 0123456789ab, built 2026-01-02T03:04:05Z, go") {
			t.Errorf("fledge version in the image: %v\n%s", err, out)
		}
		if out, err := exec.Command("file", files["usr/local/bin/fledge"]).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
			t.Errorf("the binary is not static: %s", out)
		}
	}
}

// extract writes the image's files into dir and returns their paths by
// name in the image.
func extract(t *testing.T, img v1.Image, dir string) map[string]string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		f.Close()
		files[h.Name] = p
	}
	return files
}
