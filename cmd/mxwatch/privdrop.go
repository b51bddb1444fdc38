package main

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// dropPrivileges switches the process to name's user and group (and no
// supplementary groups), for all threads. It is called after the capture
// sockets and every output are open: the sockets keep working, and a
// compromise of the packet parsers no longer runs as root. An empty name
// keeps the current user.
func dropPrivileges(name string) (uid, gid int, err error) {
	if name == "" {
		return syscall.Getuid(), syscall.Getgid(), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("live.user: %w", err)
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, fmt.Errorf("live.user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err = strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("live.user %s: gid %q: %w", name, u.Gid, err)
	}
	if syscall.Getuid() != 0 {
		if syscall.Getuid() == uid {
			return uid, gid, nil
		}
		return 0, 0, fmt.Errorf("live.user %s: switching users needs root (running as uid %d)", name, syscall.Getuid())
	}
	// Order matters: groups and gid while still root, then uid.
	if err := syscall.Setgroups(nil); err != nil {
		return 0, 0, fmt.Errorf("live.user %s: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return 0, 0, fmt.Errorf("live.user %s: setgid: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return 0, 0, fmt.Errorf("live.user %s: setuid: %w", name, err)
	}
	if syscall.Getuid() != uid || syscall.Geteuid() != uid {
		return 0, 0, fmt.Errorf("live.user %s: still uid %d after setuid", name, syscall.Geteuid())
	}
	return uid, gid, nil
}
