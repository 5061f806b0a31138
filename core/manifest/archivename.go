package manifest

import "strings"

// Names of the files a snapshot may hold besides its archives.
const (
	// CatalogName is the catalog of a snapshot's unified pxar archives
	// (formats.md 7).
	CatalogName = "catalog.pcat1.didx"
	// EncryptedKeyName is the copy of the encryption key sealed with the
	// master public key (formats.md 8.5).
	EncryptedKeyName = "rsa-encrypted.key.blob"
	// ClientLogName is the log `snapshot upload-log` adds to a finished
	// snapshot; the manifest, signed before the log existed, does not list it.
	ClientLogName = "client.log.blob"
)

// ArchiveName is the name of a file of a snapshot, as users give it
// ("root.pxar", "disk.img", "index.json") or as stored ("root.pxar.didx").
// Its methods are the one place that knows how the two forms map
// (formats.md 6.3) and which kind of archive a name is, so that the CLI,
// the TUI, the reader and the backup agree.
type ArchiveName string

// serverExts are the suffixes of stored names: dynamic index, fixed index,
// blob.
var serverExts = []string{".didx", ".fidx", ".blob"}

// pxarExts are the stream kinds of a pxar archive: unified, metadata,
// payload (formats.md 1.9).
var pxarExts = []string{".pxar", ".mpxar", ".ppxar"}

// serverExt is n's stored-name suffix, "" when n is as users give it.
func (n ArchiveName) serverExt() string {
	for _, ext := range serverExts {
		if strings.HasSuffix(string(n), ext) {
			return ext
		}
	}
	return ""
}

// FileName is the stored file name: a name ending in .didx, .fidx or
// .blob is unchanged, *.pxar, *.mpxar and *.ppxar get ".didx", *.img gets
// ".fidx", anything else ".blob".
func (n ArchiveName) FileName() string {
	s := string(n)
	switch {
	case n.serverExt() != "":
		return s
	case strings.HasSuffix(s, ".pxar"), strings.HasSuffix(s, ".mpxar"), strings.HasSuffix(s, ".ppxar"):
		return s + ".didx"
	case strings.HasSuffix(s, ".img"):
		return s + ".fidx"
	}
	return s + ".blob"
}

// Plain is the name without the stored-name suffix, as users give it and
// as upstream's listings show it ("root.pxar", "index.json").
func (n ArchiveName) Plain() string {
	return strings.TrimSuffix(string(n), n.serverExt())
}

// PxarBase splits a pxar archive's name into NAME and its stream kind:
// "root.mpxar.didx" and "root.mpxar" give "root", ".mpxar". ok is false
// for anything else.
func (n ArchiveName) PxarBase() (base, kind string, ok bool) {
	s := strings.TrimSuffix(n.FileName(), ".didx")
	for _, ext := range pxarExts {
		if b, found := strings.CutSuffix(s, ext); found && b != "" {
			return b, ext, true
		}
	}
	return "", "", false
}

// IsPxar reports whether n is a pxar archive: unified, or either stream
// of a split one.
func (n ArchiveName) IsPxar() bool {
	_, _, ok := n.PxarBase()
	return ok
}

// IsPayload reports whether n is the payload stream of a split pxar
// archive (NAME.ppxar), whose metadata stream stands for the pair.
func (n ArchiveName) IsPayload() bool {
	_, kind, _ := n.PxarBase()
	return kind == ".ppxar"
}

// Unified is the stored name of n's pxar archive as one stream,
// NAME.pxar.didx; "" when n is not a pxar archive.
func (n ArchiveName) Unified() string {
	base, _, ok := n.PxarBase()
	if !ok {
		return ""
	}
	return base + ".pxar.didx"
}

// Split gives the stored names of n's pxar archive as a split pair,
// NAME.mpxar.didx and NAME.ppxar.didx; "" when n is not a pxar archive.
func (n ArchiveName) Split() (meta, payload string) {
	base, _, ok := n.PxarBase()
	if !ok {
		return "", ""
	}
	return base + ".mpxar.didx", base + ".ppxar.didx"
}

// IsImage reports whether n is a drive image (NAME.img, a fixed index).
func (n ArchiveName) IsImage() bool { return strings.HasSuffix(n.FileName(), ".img.fidx") }

// IsIndexFile reports whether name, a stored file name, is an index of
// chunks (.didx or .fidx).
func IsIndexFile(name string) bool {
	return strings.HasSuffix(name, ".didx") || strings.HasSuffix(name, ".fidx")
}

// IsBlob reports whether n is stored as one blob (config files, logs, the
// manifest) rather than as an index of chunks.
func (n ArchiveName) IsBlob() bool { return strings.HasSuffix(n.FileName(), ".blob") }
