//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package store

import "os"

// tryLock does not lock: this platform (Windows, Solaris, AIX, …) has no flock(2) in Go's
// syscall package. The lock file is still written, naming the latest process to open the
// store, but nothing stops a second daemon on the same store: run one at a time.
func tryLock(*os.File) error { return nil }
