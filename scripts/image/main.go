// Command image assembles the teamsgate OCI image from the static binaries
// of make dist, without a container daemon: one layer holding the binary,
// the CA certificates and the passwd and group entries of an unprivileged
// user, and a configuration that runs the binary as that user. It writes
// an OCI image layout (a directory, and the same as a tar archive, which
// podman load and skopeo copy oci-archive: take).
//
// The image holds no shell and nothing else: the binary is static.
// Timestamps are fixed (SOURCE_DATE_EPOCH, else the epoch), so the same
// binaries give the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's unprivileged user, as distroless images number it.
const (
	uid = 65532
	gid = 65532
)

// Options say what goes into the image.
type Options struct {
	// Binaries maps an architecture (amd64, arm64) to its static binary.
	Binaries map[string]string
	// CACerts is the CA bundle to carry (the build machine's).
	CACerts string
	Version string
	Created time.Time
}

// Build assembles the image index: one image per architecture.
func Build(opt Options) (v1.ImageIndex, error) {
	ca, err := os.ReadFile(opt.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	arches := make([]string, 0, len(opt.Binaries))
	for a := range opt.Binaries {
		arches = append(arches, a)
	}
	sort.Strings(arches)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range arches {
		bin, err := os.ReadFile(opt.Binaries[arch])
		if err != nil {
			return nil, fmt.Errorf("%s binary: %w", arch, err)
		}
		layerTar, err := rootfs(bin, ca, opt.Created)
		if err != nil {
			return nil, err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(layerTar)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, err
		}
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.Architecture, cf.OS = arch, "linux"
		cf.Created = v1.Time{Time: opt.Created}
		cf.Config = v1.Config{
			User:       fmt.Sprintf("%d:%d", uid, gid),
			Entrypoint: []string{"/teamsgate"},
			Cmd:        []string{"serve", "/etc/teamsgate/deploy.yaml"},
			WorkingDir: "/",
			Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			ExposedPorts: map[string]struct{}{
				"8443/tcp": {}, "9090/tcp": {}, "3128/tcp": {}, "9091/tcp": {},
			},
			Labels: map[string]string{
				"org.opencontainers.image.title":   "teamsgate",
				"org.opencontainers.image.version": opt.Version,
				"org.opencontainers.image.source":  "https://github.com/teamsgate/teamsgate",
			},
		}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
		if img, err = mutate.CreatedAt(img, v1.Time{Time: opt.Created}); err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx, nil
}

// rootfs is the image's one layer: /teamsgate, the CA bundle, passwd and
// group with the unprivileged user, and the directory the spec is mounted
// on. Owners are root, so the user cannot change what it runs.
func rootfs(bin, ca []byte, mtime time.Time) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "etc/teamsgate/", "tmp/"} {
		if err := dir(d); err != nil {
			return nil, err
		}
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, gid)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", gid)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/group", 0o644, []byte(group)},
		{"etc/passwd", 0o644, []byte(passwd)},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, ca},
		{"teamsgate", 0o755, bin},
	} {
		if err := file(f.name, f.mode, f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeTar archives the layout directory (an OCI archive), in name order
// with fixed times.
func writeTar(dir, out string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, p := range names {
		rel, _ := filepath.Rel(dir, p)
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX}
		if st.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

// created is SOURCE_DATE_EPOCH when set, else the Unix epoch.
func created() (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

func main() {
	amd64 := flag.String("bin-amd64", "", "the linux/amd64 binary")
	arm64 := flag.String("bin-arm64", "", "the linux/arm64 binary")
	ca := flag.String("ca", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle to carry")
	version := flag.String("version", "dev", "the image's version label")
	out := flag.String("out", "dist/image", "the OCI layout directory to write")
	tarOut := flag.String("tar", "", "also write the layout as this OCI archive")
	flag.Parse()
	if err := run(*amd64, *arm64, *ca, *version, *out, *tarOut); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(amd64, arm64, ca, version, out, tarOut string) error {
	opt := Options{Binaries: map[string]string{}, CACerts: ca, Version: version}
	if amd64 != "" {
		opt.Binaries["amd64"] = amd64
	}
	if arm64 != "" {
		opt.Binaries["arm64"] = arm64
	}
	if len(opt.Binaries) == 0 {
		return fmt.Errorf("give -bin-amd64 and/or -bin-arm64")
	}
	var err error
	if opt.Created, err = created(); err != nil {
		return err
	}
	idx, err := Build(opt)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if _, err := layout.Write(out, idx); err != nil {
		return err
	}
	if tarOut != "" {
		if err := writeTar(out, tarOut, opt.Created); err != nil {
			return err
		}
	}
	d, _ := idx.Digest()
	fmt.Printf("%s: OCI image index %s\n", out, d)
	return nil
}
