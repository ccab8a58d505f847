//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package store

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes an exclusive flock(2) on f without waiting, or returns errLocked. A flock
// belongs to the open file, not the process: a second Open in the same process opens the file
// again and is refused like another process would be.
//
// A network file system weakens this. On NFS, Linux emulates flock with POSIX record locks
// kept by the server, which exclude other hosts but belong to the process, so a second Open
// in the same process may succeed; mounted with nolock or local_lock, the lock excludes only
// processes on the same host. Where the file system refuses locks (ENOLCK), Open fails rather
// than run unguarded. SQLite's WAL mode, which the store needs, does not work on a network
// file system anyway: keep the store on a local disk.
func tryLock(f *os.File) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	if err := conn.Control(func(fd uintptr) {
		for {
			lockErr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if !errors.Is(lockErr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if errors.Is(lockErr, syscall.EWOULDBLOCK) || errors.Is(lockErr, syscall.EAGAIN) {
		return errLocked
	}
	return lockErr
}
