package pxar

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// This file reads and writes the per-entry metadata the kernel keeps beside
// st_mode: xattrs, POSIX ACLs, file capabilities and chattr flags.

const (
	xattrACLAccess  = "system.posix_acl_access"
	xattrACLDefault = "system.posix_acl_default"
	xattrFCaps      = "security.capability"
)

// POSIX ACL xattr tags (linux/posix_acl_xattr.h).
const (
	aclTagUserObj  = 0x01
	aclTagUser     = 0x02
	aclTagGroupObj = 0x04
	aclTagGroup    = 0x08
	aclTagMask     = 0x10
	aclTagOther    = 0x20
	aclXattrVer    = 2
)

// chattr flag to pxar flag mapping (spec 1.4).
var fsFlagMap = [...]struct{ fs, pxar uint64 }{
	{0x20, 0x10000},         // APPEND
	{0x80, 0x20000},         // NOATIME
	{0x4, 0x40000},          // COMPR
	{0x800000, 0x80000},     // NOCOW
	{0x40, 0x100000},        // NODUMP
	{0x10000, 0x200000},     // DIRSYNC
	{0x10, 0x400000},        // IMMUTABLE
	{0x8, 0x800000},         // SYNC
	{0x400, 0x1000000},      // NOCOMP
	{0x20000000, 0x2000000}, // PROJINHERIT
}

func statToStat(st *unix.Stat_t) Stat {
	return Stat{
		Mode:      uint64(st.Mode),
		UID:       st.Uid,
		GID:       st.Gid,
		MtimeSec:  st.Mtim.Sec,
		MtimeNsec: uint32(st.Mtim.Nsec),
	}
}

// readFlags returns the pxar flag bits for an open file or directory;
// file systems without chattr support simply yield 0.
func readFlags(fd int) uint64 {
	v, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return 0
	}
	var out uint64
	for _, m := range fsFlagMap {
		if uint64(v)&m.fs != 0 {
			out |= m.pxar
		}
	}
	return out
}

// xattrSource abstracts fd- and path-based xattr calls.
type xattrSource struct {
	fd   int
	path string
	// skipE2Big drops what the kernel refuses with E2BIG (a name list or a
	// value over 64 KiB) instead of failing (--skip-e2big-xattr).
	skipE2Big bool
}

func (s xattrSource) list(buf []byte) (int, error) {
	if s.fd >= 0 {
		return unix.Flistxattr(s.fd, buf)
	}
	return unix.Llistxattr(s.path, buf)
}

func (s xattrSource) get(name string, buf []byte) (int, error) {
	if s.fd >= 0 {
		return unix.Fgetxattr(s.fd, name, buf)
	}
	return unix.Lgetxattr(s.path, name, buf)
}

// grow calls f with growing buffers until the result fits (ERANGE races).
func grow(f func([]byte) (int, error)) ([]byte, error) {
	for i := 0; i < 8; i++ {
		n, err := f(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []byte{}, nil
		}
		buf := make([]byte, n)
		n, err = f(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.ERANGE
}

func xattrUnsupported(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENODATA)
}

// readXattrs fills xattrs, ACL and fcaps. Only user.* and trusted.* names are
// kept (PBS policy, spec 1.10). They are sorted by name, as the upstream
// driver that wrote the reference fixtures does, so the output does not
// depend on the file system's listxattr order.
func readXattrs(src xattrSource, isDir bool, m *Metadata) error {
	list, err := grow(src.list)
	if err != nil {
		if xattrUnsupported(err) || (src.skipE2Big && errors.Is(err, unix.E2BIG)) {
			return nil
		}
		return e2bigHint(err)
	}
	var names []string
	for _, n := range bytes.Split(list, []byte{0}) {
		if len(n) > 0 {
			names = append(names, string(n))
		}
	}
	slices.Sort(names)
	for _, name := range names {
		keep := strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "trusted.")
		acl := name == xattrACLAccess || (isDir && name == xattrACLDefault)
		if !keep && !acl && name != xattrFCaps {
			continue
		}
		val, err := grow(func(b []byte) (int, error) { return src.get(name, b) })
		if err != nil {
			if xattrUnsupported(err) {
				continue // vanished between list and get
			}
			if src.skipE2Big && errors.Is(err, unix.E2BIG) {
				continue
			}
			return e2bigHint(err)
		}
		switch {
		case name == xattrFCaps:
			m.FCaps = val
		case name == xattrACLAccess:
			parseACL(val, false, &m.ACL)
		case name == xattrACLDefault:
			parseACL(val, true, &m.ACL)
		case len(name) <= maxXattrNameLen:
			m.Xattrs = append(m.Xattrs, Xattr{Name: []byte(name), Value: val})
		}
	}
	return nil
}

// e2bigHint names the option that gets past E2BIG, as upstream does.
func e2bigHint(err error) error {
	if errors.Is(err, unix.E2BIG) {
		return fmt.Errorf("%w (try --skip-e2big-xattr)", err)
	}
	return err
}

// parseACL converts a posix_acl xattr value into archive ACL items.
func parseACL(b []byte, def bool, a *ACL) {
	if len(b) < 4 || binary.LittleEndian.Uint32(b) != aclXattrVer {
		return
	}
	var users, groups []ACLEntry
	var userObj, groupObj, other, mask *uint64
	for p := b[4:]; len(p) >= 8; p = p[8:] {
		tag := binary.LittleEndian.Uint16(p)
		perm := uint64(binary.LittleEndian.Uint16(p[2:]))
		id := uint64(binary.LittleEndian.Uint32(p[4:]))
		switch tag {
		case aclTagUserObj:
			userObj = &perm
		case aclTagUser:
			users = append(users, ACLEntry{ID: id, Permissions: perm})
		case aclTagGroupObj:
			groupObj = &perm
		case aclTagGroup:
			groups = append(groups, ACLEntry{ID: id, Permissions: perm})
		case aclTagMask:
			mask = &perm
		case aclTagOther:
			other = &perm
		}
	}
	if !def {
		a.Users, a.Groups = users, groups
		if mask != nil && groupObj != nil {
			a.GroupObj = groupObj
		}
		return
	}
	opt := func(p *uint64) uint64 {
		if p == nil {
			return aclNoMask
		}
		return *p
	}
	if userObj != nil || groupObj != nil || other != nil || mask != nil {
		a.Default = &ACLDefault{UserObj: opt(userObj), GroupObj: opt(groupObj), Other: opt(other), Mask: opt(mask)}
	}
	a.DefaultUsers, a.DefaultGroups = users, groups
}

func appendACLEntry(b []byte, tag uint16, perm uint64, id uint32) []byte {
	b = binary.LittleEndian.AppendUint16(b, tag)
	b = binary.LittleEndian.AppendUint16(b, uint16(perm&7))
	return binary.LittleEndian.AppendUint32(b, id)
}

const aclUndefinedID = 0xffffffff

// accessACLXattr rebuilds system.posix_acl_access from the archive items and
// mode; nil when the mode alone describes the permissions.
func accessACLXattr(a *ACL, mode uint64) []byte {
	if len(a.Users) == 0 && len(a.Groups) == 0 && a.GroupObj == nil {
		return nil
	}
	groupObj := (mode >> 3) & 7
	if a.GroupObj != nil {
		groupObj = *a.GroupObj
	}
	b := binary.LittleEndian.AppendUint32(nil, aclXattrVer)
	b = appendACLEntry(b, aclTagUserObj, (mode>>6)&7, aclUndefinedID)
	for _, u := range sortACL(a.Users) {
		b = appendACLEntry(b, aclTagUser, u.Permissions, uint32(u.ID))
	}
	b = appendACLEntry(b, aclTagGroupObj, groupObj, aclUndefinedID)
	for _, g := range sortACL(a.Groups) {
		b = appendACLEntry(b, aclTagGroup, g.Permissions, uint32(g.ID))
	}
	// With an ACL present the mode's group bits are the mask.
	b = appendACLEntry(b, aclTagMask, (mode>>3)&7, aclUndefinedID)
	return appendACLEntry(b, aclTagOther, mode&7, aclUndefinedID)
}

// defaultACLXattr rebuilds system.posix_acl_default; nil if there is none.
func defaultACLXattr(a *ACL) []byte {
	if a.Default == nil && len(a.DefaultUsers) == 0 && len(a.DefaultGroups) == 0 {
		return nil
	}
	d := ACLDefault{UserObj: aclNoMask, GroupObj: aclNoMask, Other: aclNoMask, Mask: aclNoMask}
	if a.Default != nil {
		d = *a.Default
	}
	b := binary.LittleEndian.AppendUint32(nil, aclXattrVer)
	if d.UserObj != aclNoMask {
		b = appendACLEntry(b, aclTagUserObj, d.UserObj, aclUndefinedID)
	}
	for _, u := range sortACL(a.DefaultUsers) {
		b = appendACLEntry(b, aclTagUser, u.Permissions, uint32(u.ID))
	}
	if d.GroupObj != aclNoMask {
		b = appendACLEntry(b, aclTagGroupObj, d.GroupObj, aclUndefinedID)
	}
	for _, g := range sortACL(a.DefaultGroups) {
		b = appendACLEntry(b, aclTagGroup, g.Permissions, uint32(g.ID))
	}
	if d.Mask != aclNoMask {
		b = appendACLEntry(b, aclTagMask, d.Mask, aclUndefinedID)
	}
	if d.Other != aclNoMask {
		b = appendACLEntry(b, aclTagOther, d.Other, aclUndefinedID)
	}
	return b
}

// Virtual file systems are never descended into (spec 1.10).
var virtualFSMagic = map[int64]bool{
	unix.PROC_SUPER_MAGIC: true, unix.SYSFS_MAGIC: true, unix.CGROUP_SUPER_MAGIC: true,
	unix.CGROUP2_SUPER_MAGIC: true, unix.DEVPTS_SUPER_MAGIC: true, unix.DEBUGFS_MAGIC: true,
	unix.TRACEFS_MAGIC: true, unix.SECURITYFS_MAGIC: true, unix.PSTOREFS_MAGIC: true,
	unix.BPF_FS_MAGIC: true, unix.BINFMTFS_MAGIC: true, 0x65735543: true, // fusectl
	unix.HUGETLBFS_MAGIC: true, 0x19800202: true, // mqueue
	unix.EFIVARFS_MAGIC: true, unix.SELINUX_MAGIC: true,
	unix.NSFS_MAGIC: true,
}

func isVirtualFS(fd int) bool {
	var s unix.Statfs_t
	if err := unix.Fstatfs(fd, &s); err != nil {
		return false
	}
	return virtualFSMagic[int64(s.Type)]
}
