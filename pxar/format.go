// Package pxar reads and writes Proxmox archive (pxar) streams, format version 1
// (unified archives), byte-compatible with the upstream Rust implementation.
//
// The layout is described in spec/formats.md section 1; constants here are the
// SipHash-2-4 values of the upstream type names.
package pxar

import (
	"errors"
	"fmt"

	"github.com/dchest/siphash"
)

// Item type constants (spec 1.3).
const (
	htypeFormatVersion         uint64 = 0x730f6c75df16a40d
	htypeEntry                 uint64 = 0xd5956474e588acef
	htypeEntryV1               uint64 = 0x11da850a1c1cceff
	htypePrelude               uint64 = 0xe309d79d9f7b771b
	htypeFilename              uint64 = 0x16701121063917b3
	htypeSymlink               uint64 = 0x27f971e7dbf5dc5f
	htypeHardlink              uint64 = 0x51269c8422bd7275
	htypeDevice                uint64 = 0x9fc9e906586d5ce9
	htypeXattr                 uint64 = 0x0dab0229b57dcd03
	htypeACLUser               uint64 = 0x2ce8540a457d55b8
	htypeACLGroup              uint64 = 0x136e3eceb04c03ab
	htypeACLGroupObj           uint64 = 0x10868031e9582876
	htypeACLDefault            uint64 = 0xbbbb13415a6896f5
	htypeACLDefaultUser        uint64 = 0xc89357b40532cd1f
	htypeACLDefaultGroup       uint64 = 0xf90a8a5816038ffe
	htypeFCaps                 uint64 = 0x2da9dd9db5f7fb67
	htypeQuotaProjID           uint64 = 0xe07540e82f7d1cbb
	htypePayload               uint64 = 0x28147a1b0b7c1a25
	htypePayloadRef            uint64 = 0x419d3d6bc4ba977e
	htypeGoodbye               uint64 = 0x2fec4fa642d5731d
	goodbyeTailMarker          uint64 = 0xef5eed5b753e1555
	htypePayloadStart          uint64 = 0x834c68c2194a4ed2
	htypePayloadTail           uint64 = 0x6c72b78b984c81b5
	headerSize                        = 16
	statSize                          = 40
	statV1Size                        = 32
	goodbyeItemSize                   = 24
	maxFilenameLen                    = 4096
	maxPathLen                        = 4096
	maxXattrNameLen                   = 255
	maxXattrContent                   = 255 + 65536
	maxHardlinkContent                = 8 + maxPathLen + 1
	maxSymlinkContent                 = maxPathLen + 1
	maxFilenameContent                = maxFilenameLen + 1
	hashKey0                   uint64 = 0x83ac3f1cfbb450db
	hashKey1                   uint64 = 0xaa4f1b6879369fbd
	aclNoMask                  uint64 = 0xffffffffffffffff
	aclRead, aclWrite, aclExec        = 4, 2, 1
)

// Mode bits as stored in the archive; fixed values independent of the host (spec 1.4).
const (
	ModeIFMT   uint64 = 0o170000
	ModeIFSOCK uint64 = 0o140000
	ModeIFLNK  uint64 = 0o120000
	ModeIFREG  uint64 = 0o100000
	ModeIFBLK  uint64 = 0o060000
	ModeIFDIR  uint64 = 0o040000
	ModeIFCHR  uint64 = 0o020000
	ModeIFIFO  uint64 = 0o010000
	ModeISUID  uint64 = 0o004000
	ModeISGID  uint64 = 0o002000
	ModeISVTX  uint64 = 0o001000
)

// hashName is the format's SipHash-2-4 over raw bytes (type constants, goodbye tables).
func hashName(b []byte) uint64 { return siphash.Hash(hashKey0, hashKey1, b) }

// ErrCorrupt wraps every structural decoding error so callers can test for it.
var ErrCorrupt = errors.New("pxar: corrupt archive")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Kind is the type of a decoded entry.
type Kind int

const (
	KindDirectory Kind = iota
	KindFile
	KindSymlink
	KindHardlink
	KindDevice
	KindFifo
	KindSocket
	// KindGoodbye marks the end of a directory (Path is the directory's path);
	// Extract uses it to apply directory metadata, List skips it.
	KindGoodbye
)

func (k Kind) String() string {
	switch k {
	case KindDirectory:
		return "dir"
	case KindFile:
		return "file"
	case KindSymlink:
		return "symlink"
	case KindHardlink:
		return "hardlink"
	case KindDevice:
		return "device"
	case KindFifo:
		return "fifo"
	case KindSocket:
		return "socket"
	case KindGoodbye:
		return "goodbye"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Stat is the ENTRY item (40 bytes).
type Stat struct {
	Mode      uint64
	Flags     uint64
	UID       uint32
	GID       uint32
	MtimeSec  int64
	MtimeNsec uint32
}

// FileType returns the IFMT bits of the mode.
func (s Stat) FileType() uint64 { return s.Mode & ModeIFMT }

// Xattr is one extended attribute (name without NUL, raw value).
type Xattr struct {
	Name  []byte
	Value []byte
}

// ACLEntry is a named user or group entry; ID is the uid or gid.
type ACLEntry struct {
	ID          uint64
	Permissions uint64
}

// ACLDefault holds the default ACL's base entries; aclNoMask (all ones) means absent.
type ACLDefault struct {
	UserObj, GroupObj, Other, Mask uint64
}

// ACL is the POSIX ACL of an entry as the archive stores it.
type ACL struct {
	Users         []ACLEntry
	Groups        []ACLEntry
	GroupObj      *uint64 // only when the access ACL has a mask
	Default       *ACLDefault
	DefaultUsers  []ACLEntry
	DefaultGroups []ACLEntry
}

// IsEmpty reports whether no ACL item would be written.
func (a *ACL) IsEmpty() bool {
	return len(a.Users) == 0 && len(a.Groups) == 0 && a.GroupObj == nil && a.Default == nil &&
		len(a.DefaultUsers) == 0 && len(a.DefaultGroups) == 0
}

// Metadata is everything the archive stores about an entry besides its kind data.
type Metadata struct {
	Stat        Stat
	Xattrs      []Xattr
	ACL         ACL
	FCaps       []byte  // raw security.capability, nil if none
	QuotaProjID *uint64 // nil if none
}

// Device is a Linux split major/minor pair.
type Device struct {
	Major, Minor uint64
}

// Dev returns the glibc dev_t encoding (spec DEVICE).
func (d Device) Dev() uint64 {
	return (d.Major&0xfff)<<8 | (d.Major&0xfffff000)<<32 | (d.Minor & 0xff) | (d.Minor&0xffffff00)<<12
}

// DeviceFromDev splits a glibc dev_t into major/minor.
func DeviceFromDev(dev uint64) Device {
	return Device{
		Major: (dev>>8)&0xfff | (dev>>32)&0xfffff000,
		Minor: dev&0xff | (dev>>12)&0xffffff00,
	}
}

// checkFilename enforces the FILENAME rules shared by reader and writer.
func checkFilename(name []byte) error {
	switch {
	case len(name) == 0:
		return fmt.Errorf("pxar: empty file name")
	case len(name) > maxFilenameLen:
		return fmt.Errorf("pxar: file name too long (%d bytes)", len(name))
	case string(name) == "." || string(name) == "..":
		return fmt.Errorf("pxar: invalid file name %q", name)
	}
	for _, c := range name {
		if c == '/' || c == 0 {
			return fmt.Errorf("pxar: invalid file name %q", name)
		}
	}
	return nil
}
