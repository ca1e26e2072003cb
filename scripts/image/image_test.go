package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImage builds the image of a real teamsgate binary, reads it back
// from its OCI layout and checks it from its own manifest and config: an
// unprivileged user, the binary as entrypoint, the CA bundle, one layer
// and no shell; the same inputs give the same digest; and, as root, the
// binary runs from the image's root filesystem as that user, with no shell
// to help it.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "teamsgate")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/teamsgate")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "image")
	if err := run(bin, "", "/etc/ssl/certs/ca-certificates.crt", "v-test", out, filepath.Join(dir, "image.tar")); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform.Architecture != "amd64" || im.Manifests[0].Platform.OS != "linux" {
		t.Fatalf("manifests: %+v", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || strings.Join(cf.Config.Entrypoint, " ") != "/teamsgate" || cf.Config.Labels["org.opencontainers.image.version"] != "v-test" {
		t.Errorf("config: %+v", cf.Config)
	}
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Errorf("%d layers, want 1", len(layers))
	}
	files := map[string]*tar.Header{}
	rc := mutate.Extract(img)
	tr := tar.NewReader(rc)
	root := filepath.Join(dir, "rootfs")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		p := filepath.Join(root, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, _ := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode))
		io.Copy(f, tr)
		f.Close()
	}
	rc.Close()
	for _, want := range []string{"teamsgate", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group"} {
		if files[want] == nil {
			t.Errorf("the image lacks /%s", want)
		}
	}
	if h := files["teamsgate"]; h == nil || h.Mode != 0o755 || h.Uid != 0 {
		t.Errorf("/teamsgate: %+v", h)
	}
	for name := range files {
		if strings.HasPrefix(name, "bin/") || strings.HasPrefix(name, "usr/") || strings.HasSuffix(name, "/sh") {
			t.Errorf("the image holds %s: it carries the binary, certificates and users only", name)
		}
	}

	// Reproducible: the same binary gives the same index.
	d1, _ := idx.Digest()
	again := filepath.Join(dir, "again")
	if err := run(bin, "", "/etc/ssl/certs/ca-certificates.crt", "v-test", again, ""); err != nil {
		t.Fatal(err)
	}
	idx2, _ := layout.ImageIndexFromPath(again)
	if d2, _ := idx2.Digest(); d1 != d2 {
		t.Errorf("two builds differ: %s, %s", d1, d2)
	}

	// The binary runs from the image's files alone, as its user.
	if os.Geteuid() != 0 || runtime.GOARCH != "amd64" {
		if os.Getenv("TEAMSGATE_E2E") == "1" {
			t.Fatal("TEAMSGATE_E2E=1 but the image's binary cannot be run here: needs root on linux/amd64")
		}
		t.Skip("running the image's binary needs root (chroot) on linux/amd64")
	}
	cmd := exec.Command("chroot", "--userspec=65532:65532", root, "/teamsgate", "version")
	cmd.Env = []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	done := make(chan struct{})
	var got []byte
	go func() { got, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the image's binary did not finish")
	}
	if err != nil || !strings.Contains(string(got), "catalog") {
		t.Errorf("/teamsgate version in the image's root: %v\n%s", err, got)
	}
}
