// Command image builds Fledge's container image without a container
// daemon: a static fledge binary per platform, Debian's CA certificates, a
// non-root user and OCI labels, on an empty base (scratch). It writes a
// multi-platform OCI image index to an OCI layout directory and, with
// -push, pushes it to a registry.
//
//	go run ./hack/image -out bin/image [-push registry/repo:tag]
//
// make image passes the version stamps; the build date defaults to the
// commit's time, so that one commit builds the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: an unprivileged uid/gid with no login, as in
// distroless images.
const (
	uid      = 65532
	userName = "nonroot"
	home     = "/home/nonroot"
	binPath  = "/usr/local/bin/fledge"
	caPath   = "/etc/ssl/certs/ca-certificates.crt"
)

// Options say what to build.
type Options struct {
	// Root is the module's root directory (where go.mod is).
	Root string
	// Platforms to build, as os/arch.
	Platforms []string
	// Version, Revision and BuildDate are stamped into the binaries and
	// the image labels. BuildDate is RFC 3339 and also the image's
	// creation time and every file's modification time.
	Version, Revision, BuildDate string
	// Source is the project's source URL (org.opencontainers.image.source).
	Source string
	// CACerts is the PEM bundle copied to /etc/ssl/certs.
	CACerts string
	// WorkDir receives the binaries.
	WorkDir string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	var o Options
	var platforms, out, push string
	fs.StringVar(&out, "out", "bin/image", "OCI layout directory to write the image index to (replaced)")
	fs.StringVar(&push, "push", "", "also push the image index to this reference (registry/repo:tag), with the credentials of ~/.docker/config.json")
	fs.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	fs.StringVar(&o.Version, "version", "devel", "version stamped into fledge and the labels")
	fs.StringVar(&o.Revision, "revision", "", "git revision stamped into fledge and the labels")
	fs.StringVar(&o.BuildDate, "date", "", "build date (RFC 3339, UTC); empty: the time of the revision's commit")
	fs.StringVar(&o.Source, "source", "https://fledge.dev/fledge", "source URL label")
	fs.StringVar(&o.CACerts, "ca-certificates", caPath, "the CA bundle to copy into the image (Debian's ca-certificates)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Platforms = strings.Split(platforms, ",")
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	o.Root = root
	tmp, err := os.MkdirTemp("", "fledge-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	o.WorkDir = tmp
	idx, err := Build(ctx, o)
	if err != nil {
		return err
	}
	if err := WriteLayout(out, idx); err != nil {
		return err
	}
	d, _ := idx.Digest()
	fmt.Printf("wrote %s (index %s, %s)\n", out, d, platforms)
	if push != "" {
		ref, err := name.ParseReference(push)
		if err != nil {
			return fmt.Errorf("-push %q: %w", push, err)
		}
		if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		fmt.Printf("pushed %s@%s\n", ref.Context(), d)
	}
	return nil
}

// Build compiles fledge for every platform and assembles the image index.
func Build(ctx context.Context, o Options) (v1.ImageIndex, error) {
	if len(o.Platforms) == 0 {
		return nil, errors.New("no platforms")
	}
	created := time.Unix(0, 0).UTC()
	if o.BuildDate != "" {
		t, err := time.Parse(time.RFC3339, o.BuildDate)
		if err != nil {
			return nil, fmt.Errorf("build date %q: want RFC 3339 (2026-01-02T03:04:05Z): %w", o.BuildDate, err)
		}
		created = t.UTC()
	}
	ca, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (install Debian's ca-certificates package)", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("CA certificates %s: no PEM certificate in it", o.CACerts)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.Platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil || plat.OS == "" || plat.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch", p)
		}
		bin, err := buildBinary(ctx, o, plat)
		if err != nil {
			return nil, err
		}
		img, err := image(o, plat, bin, ca, created)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	return idx, nil
}

// LDFlags are the linker flags that stamp the version (internal/version).
func LDFlags(version, revision, date string) string {
	const pkg = "fledge.dev/fledge/internal/version"
	return fmt.Sprintf("-s -w -X %s.version=%s -X %s.revision=%s -X %s.buildDate=%s", pkg, version, pkg, revision, pkg, date)
}

// buildBinary compiles a static fledge for plat.
func buildBinary(ctx context.Context, o Options, plat *v1.Platform) ([]byte, error) {
	out := filepath.Join(o.WorkDir, "fledge-"+plat.OS+"-"+plat.Architecture)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", LDFlags(o.Version, o.Revision, o.BuildDate), "-o", out, "./cmd/fledge")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+plat.OS, "GOARCH="+plat.Architecture, "GOTOOLCHAIN=local")
	if plat.Variant != "" && plat.Architecture == "arm" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(plat.Variant, "v"))
	}
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build for %s/%s: %w\n%s", plat.OS, plat.Architecture, err, msg)
	}
	return os.ReadFile(out)
}

// image is one platform's image: a single layer on scratch.
func image(o Options, plat *v1.Platform, bin, ca []byte, created time.Time) (v1.Image, error) {
	files, err := rootfs(bin, ca, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: created}
	cf.Author = "The Fledge authors"
	cf.Config = v1.Config{
		Entrypoint: []string{binPath},
		Cmd:        []string{"serve", "--listen=:8080"},
		User:       fmt.Sprintf("%d:%d", uid, uid),
		WorkingDir: home,
		Env:        []string{"PATH=/usr/local/bin", "HOME=" + home, "SSL_CERT_FILE=" + caPath},
		ExposedPorts: map[string]struct{}{
			"8080/tcp": {},
		},
		Labels: Labels(o, created),
	}
	return mutate.ConfigFile(img, cf)
}

// Labels are the image's OCI annotations keys (org.opencontainers.image.*).
func Labels(o Options, created time.Time) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "fledge",
		"org.opencontainers.image.description": "Fledge: canary deployment pipelines on Kubernetes (server and CLI)",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
	}
}

// rootfs is the image's only layer: the binary, the CA bundle, the
// user's passwd and group entries, its home and a /tmp.
func rootfs(bin, ca []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", userName, uid, uid, userName, home)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, uid)
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file(strings.TrimPrefix(caPath, "/"), 0o644, ca) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir(strings.TrimPrefix(home, "/"), 0o700, uid) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return file(strings.TrimPrefix(binPath, "/"), 0o755, bin) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes idx as an OCI image layout at dir, replacing what
// was there.
func WriteLayout(dir string, idx v1.ImageIndex) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx); err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return nil
}
