// Package catalogdir writes the catalog directory that `teamsgate catalog
// update` keeps: an overlay (docs/catalog.md) holding current Microsoft
// 365 endpoint data and Azure service tags files beside whatever else the
// user keeps there.
//
// A directory is never changed in place. The new contents are written to a
// directory beside it, checked by loading them as a catalog, and exchanged
// with the old one in a single rename(2) (RENAME_EXCHANGE), so that a
// reader sees the old catalog or the new one, never a mix, and a failed or
// interrupted update leaves the old one as it was. The replaced directory
// is kept as DIR.previous, the baseline for `catalog diff`, `plan --since`
// and `render --since`.
package catalogdir

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"
)

// Layout of a catalog directory. catalog update owns these names; every
// other file of the directory (integrations/, a user's notes) is kept as
// it is.
const (
	// CatalogFile is the overlay's catalog.yaml; update owns its keys
	// version, m365 and service_tags and keeps the others.
	CatalogFile = "catalog.yaml"
	// ClientIDFile holds the GUID the directory's updates send to
	// Microsoft's web service as ClientRequestId.
	ClientIDFile = "client-request-id"
	// M365Dir and TagsDir hold the data files.
	M365Dir = "m365"
	TagsDir = "service-tags"
	// PreviousSuffix names the directory an update replaced.
	PreviousSuffix = ".previous"
)

// M365 is Microsoft 365 endpoint data for the clouds it serves.
type M365 struct {
	// Clouds are the catalog clouds the data serves: worldwide and gcc
	// share the Worldwide instance.
	Clouds   []string
	Instance string
	// File is the name under M365Dir ("worldwide.json").
	File    string
	Version string // the web service's YYYYMMDDNN, "" when unknown
	Date    time.Time
	Source  string
	Data    []byte
}

// Tags is an Azure service tags file.
type Tags struct {
	Cloud        string // "Public" or "AzureGovernment"
	ChangeNumber int
	Date         time.Time
	Source       string
	Data         []byte // uncompressed JSON
}

// Update is what one run changes.
type Update struct {
	M365 []M365
	Tags []Tags
}

// Result says what Apply did.
type Result struct {
	// Changed is false when every file of the update was already there
	// with the same content: nothing was written.
	Changed bool
	// Previous is the replaced directory, "" when dir did not exist.
	Previous string
}

// Verify checks a staged directory before it replaces the old one: the
// caller loads it as a catalog. A non-nil error leaves the old directory.
type Verify func(staged string) error

// Apply writes u into dir atomically (see the package comment). The
// directory is created when missing.
func Apply(dir string, u Update, verify Verify) (Result, error) {
	dir = filepath.Clean(dir)
	unlock, err := lock(dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()

	files, catYAML, err := plan(dir, u)
	if err != nil {
		return Result{}, err
	}
	if files == nil {
		return Result{}, nil
	}
	stage, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".new-")
	if err != nil {
		return Result{}, fmt.Errorf("cannot stage the new catalog beside %q: %w", dir, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(stage)
		}
	}()
	if err := os.Chmod(stage, 0o755); err != nil {
		return Result{}, err
	}
	if err := copyTree(dir, stage, files); err != nil {
		return Result{}, err
	}
	files[CatalogFile] = catYAML
	for name, data := range files {
		if err := writeSynced(filepath.Join(stage, filepath.FromSlash(name)), data); err != nil {
			return Result{}, err
		}
	}
	if err := syncTree(stage); err != nil {
		return Result{}, err
	}
	if verify != nil {
		if err := verify(stage); err != nil {
			return Result{}, err
		}
	}
	prev, err := swap(stage, dir)
	if err != nil {
		return Result{}, err
	}
	committed = true
	return Result{Changed: true, Previous: prev}, nil
}

// plan returns the data files to write (name relative to dir → content)
// and the new catalog.yaml, or nil files when nothing would change.
func plan(dir string, u Update) (map[string][]byte, []byte, error) {
	files := map[string][]byte{}
	changed := false
	same := func(name string, data []byte) bool {
		old, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		return err == nil && bytes.Equal(old, data)
	}
	for _, m := range u.M365 {
		name := path.Join(M365Dir, m.File)
		files[name] = m.Data
		changed = changed || !same(name, m.Data)
	}
	for _, t := range u.Tags {
		name := path.Join(TagsDir, t.Cloud+".json")
		files[name] = t.Data
		changed = changed || !same(name, t.Data)
	}
	oldYAML, err := os.ReadFile(filepath.Join(dir, CatalogFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("cannot read %q: %w", filepath.Join(dir, CatalogFile), err)
	}
	newYAML, err := editCatalog(oldYAML, u)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, CatalogFile), err)
	}
	if !changed && bytes.Equal(oldYAML, newYAML) {
		return nil, nil, nil
	}
	return files, newYAML, nil
}

// header starts a catalog.yaml that update writes from nothing.
const header = `# A teamsgate catalog overlay kept by "teamsgate catalog update".
# update owns the keys version, m365 and service_tags and the files under
# m365/ and service-tags/; anything else here is yours and is kept.
`

// editCatalog sets the keys update owns in a catalog.yaml, keeping every
// other key and its comments.
func editCatalog(old []byte, u Update) ([]byte, error) {
	var doc yaml.Node
	if len(bytes.TrimSpace(old)) > 0 {
		if err := yaml.Unmarshal(old, &doc); err != nil {
			return nil, fmt.Errorf("cannot edit: %w", err)
		}
		// A node tree keeps what a decode refuses (a key given twice):
		// such a file is the user's to fix, not update's to carry on.
		if err := duplicateKey(&doc); err != nil {
			return nil, fmt.Errorf("cannot edit: %w", err)
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, HeadComment: strings.TrimSpace(header), Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("cannot edit: not a mapping")
	}
	root := doc.Content[0]
	m365 := child(root, "m365")
	for _, m := range u.M365 {
		for _, c := range m.Clouds {
			entry := mapping(
				"file", path.Join(M365Dir, m.File),
				"instance", m.Instance,
				"version", m.Version,
				"date", dateString(m.Date),
				"source", m.Source,
			)
			set(m365, c, entry)
		}
	}
	tags := child(root, "service_tags")
	for _, t := range u.Tags {
		set(tags, t.Cloud, mapping(
			"file", path.Join(TagsDir, t.Cloud+".json"),
			"change_number", strconv.Itoa(t.ChangeNumber),
			"date", dateString(t.Date),
			"source", t.Source,
		))
	}
	if len(m365.Content) == 0 {
		remove(root, "m365")
	}
	if len(tags.Content) == 0 {
		remove(root, "service_tags")
	}
	setFirst(root, "version", scalar(version(root)))
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// duplicateKey finds a mapping key given twice. Aliases are not followed:
// the walk is linear in the file.
func duplicateKey(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a key that is not a string", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
			}
			seen[k.Value] = true
		}
	}
	for _, c := range n.Content {
		if err := duplicateKey(c); err != nil {
			return err
		}
	}
	return nil
}

// version names the overlay's data: "data.worldwide-2026120100.public-398",
// from the m365 and service_tags entries (the catalog version of a plan is
// the embedded catalog's, "+", this).
func version(root *yaml.Node) string {
	var parts []string
	if m := lookup(root, "m365"); m != nil {
		seen := map[string]bool{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			e := m.Content[i+1]
			if scalarOf(lookup(e, "file")) == "" {
				continue
			}
			file := path.Base(scalarOf(lookup(e, "file")))
			id := scalarOf(lookup(e, "version"))
			if id == "" {
				id = strings.ReplaceAll(scalarOf(lookup(e, "date")), "-", "")
			}
			p := strings.TrimSuffix(file, ".json") + "-" + id
			if !seen[p] {
				seen[p] = true
				parts = append(parts, p)
			}
		}
	}
	if t := lookup(root, "service_tags"); t != nil {
		for i := 0; i+1 < len(t.Content); i += 2 {
			parts = append(parts, strings.ToLower(t.Content[i].Value)+"-"+scalarOf(lookup(t.Content[i+1], "change_number")))
		}
	}
	sort.Strings(parts)
	return "data." + strings.Join(parts, ".")
}

func dateString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

func scalar(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	if _, err := strconv.Atoi(v); err == nil {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// mapping builds a flow mapping of the key/value pairs whose value is not
// empty.
func mapping(kv ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		v := scalar(kv[i+1])
		if kv[i] == "change_number" {
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: kv[i+1]}
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[i]}, v)
	}
	return n
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarOf(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

// child returns the mapping under key, made (or replaced, when it is not
// a mapping) as needed.
func child(m *yaml.Node, key string) *yaml.Node {
	if c := lookup(m, key); c != nil && c.Kind == yaml.MappingNode {
		c.Style = 0
		return c
	}
	c := &yaml.Node{Kind: yaml.MappingNode}
	set(m, key, c)
	return c
}

func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

// setFirst sets key, putting it first when it is new.
func setFirst(m *yaml.Node, key string, v *yaml.Node) {
	if lookup(m, key) != nil {
		set(m, key, v)
		return
	}
	m.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: key}, v}, m.Content...)
}

func remove(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// copyTree copies dir's regular files into stage, except those in skip
// and catalog.yaml, which the update writes.
func copyTree(dir, stage string, skip map[string][]byte) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		slash := filepath.ToSlash(rel)
		dst := filepath.Join(stage, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case !d.Type().IsRegular():
			return fmt.Errorf("%q is neither a file nor a directory; a catalog directory holds only those", p)
		}
		if _, ok := skip[slash]; ok || slash == CatalogFile {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return writeSyncedMode(dst, data, info.Mode().Perm())
	})
	if err != nil {
		return fmt.Errorf("cannot copy %q: %w", dir, err)
	}
	return nil
}

func writeSynced(name string, data []byte) error { return writeSyncedMode(name, data, 0o644) }

func writeSyncedMode(name string, data []byte, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncTree syncs every directory of the staged tree, so that after a crash
// the exchanged directory is complete.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncDir(p)
	})
}

func syncDir(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// swap puts stage in dir's place. With dir there, the two are exchanged in
// one renameat2(RENAME_EXCHANGE) and the old contents become
// dir.previous; where the file system cannot exchange (EINVAL), dir is
// renamed away first, a moment in which it is missing but never mixed.
func swap(stage, dir string) (previous string, err error) {
	prev := dir + PreviousSuffix
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(stage, dir); err != nil {
			return "", fmt.Errorf("cannot create %q: %w", dir, err)
		}
		if err := baseline(prev); err != nil {
			return "", err
		}
		return prev, syncDir(filepath.Dir(dir))
	}
	err = unix.Renameat2(unix.AT_FDCWD, stage, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		// stage now holds the old contents; a directory without a
		// catalog (only the ClientRequestId of a first run) stood for the
		// embedded catalog.
		if _, err := os.Stat(filepath.Join(stage, CatalogFile)); errors.Is(err, fs.ErrNotExist) {
			if err := writeSynced(filepath.Join(stage, CatalogFile), []byte(baselineYAML)); err != nil {
				return "", err
			}
		}
		if err := os.RemoveAll(prev); err != nil {
			return "", fmt.Errorf("the catalog is updated, but the replaced one could not be kept as %q: %w", prev, err)
		}
		if err := os.Rename(stage, prev); err != nil {
			return "", fmt.Errorf("the catalog is updated, but the replaced one could not be kept as %q: %w", prev, err)
		}
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		if err := os.RemoveAll(prev); err != nil {
			return "", fmt.Errorf("cannot remove %q: %w", prev, err)
		}
		if err := os.Rename(dir, prev); err != nil {
			return "", fmt.Errorf("cannot move %q aside: %w", dir, err)
		}
		if err := os.Rename(stage, dir); err != nil {
			// Put the old catalog back.
			os.Rename(prev, dir)
			return "", fmt.Errorf("cannot put the new catalog in place of %q: %w", dir, err)
		}
	default:
		return "", fmt.Errorf("cannot replace %q: %w", dir, err)
	}
	return prev, syncDir(filepath.Dir(dir))
}

// baselineYAML is the catalog.yaml of DIR.previous after the first update:
// before DIR held data, the embedded catalog was in use.
const baselineYAML = `# The catalog in use before the first "teamsgate catalog update" of this
# directory: the embedded one. A baseline for catalog diff, plan --since
# and render --since.
version: embedded
`

// baseline writes DIR.previous for a first update: an overlay that
// changes nothing.
func baseline(prev string) error {
	if err := os.RemoveAll(prev); err != nil {
		return fmt.Errorf("cannot remove %q: %w", prev, err)
	}
	if err := writeSynced(filepath.Join(prev, CatalogFile), []byte(baselineYAML)); err != nil {
		return fmt.Errorf("cannot write the baseline %q: %w", prev, err)
	}
	return nil
}

// lock takes an exclusive lock on DIR.lock beside dir, so that two updates
// of one directory never interleave.
func lock(dir string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %q: %w", filepath.Dir(dir), err)
	}
	name := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot lock %q: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%q is being updated by another process (lock %s)", dir, name)
	}
	return func() { f.Close() }, nil
}

// ClientID returns the directory's ClientRequestId, made with newID and
// kept in dir when it has none: one per machine, as Microsoft asks. dir is
// created when missing; the GUID file is the one thing written outside an
// update's exchange.
func ClientID(dir string, newID func() (string, error), valid func(string) error) (string, error) {
	name := filepath.Join(dir, ClientIDFile)
	b, err := os.ReadFile(name)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if err := valid(id); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := name + ".tmp"
	if err := writeSynced(tmp, []byte(id+"\n")); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, name); err != nil {
		return "", err
	}
	return id, nil
}

// Digest is a short hash of data, for messages that say which file is
// which.
func Digest(data []byte) string {
	h := sha256.Sum256(data)
	return fmt.Sprintf("%x", h[:6])
}
