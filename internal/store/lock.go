package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrInUse is the error kind of an Open refused because another Store, in this process or
// another, holds the database: test for it with errors.Is, and get the holder with errors.As
// and an *InUseError.
var ErrInUse = errors.New("store in use")

// InUseError is the error Open returns when another Store holds the database's lock.
type InUseError struct {
	// Path is the database file this Open was asked for.
	Path string
	// Holder is what the lock file says about the holder; zero when it says nothing readable
	// (the holder had locked the file but not yet written to it).
	Holder Holder
}

// Error reports the holder and what to do, on one line.
func (e *InUseError) Error() string {
	const advice = "; stop it first, or give this one another store.path"
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("store %s is in use by another process (%s does not say which)%s", e.Path, lockPath(e.Path), advice)
	}
	prog, host := h.Program, h.Host
	if prog == "" {
		prog = "deskpilot"
	}
	if host == "" {
		host = "(unknown)"
	}
	return fmt.Sprintf("store %s is in use by %s pid %d on host %s (since %s)%s",
		e.Path, prog, h.PID, host, h.Since.UTC().Format(time.RFC3339), advice)
}

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Holder is the process that holds a store, as it wrote itself into the lock file.
type Holder struct {
	PID     int       `json:"pid"`
	Program string    `json:"program"` // the base name of the command it runs as (os.Args[0])
	Host    string    `json:"host"`    // its host name, where the pid means something
	Since   time.Time `json:"since"`   // when it opened the store, in UTC to the second
	Path    string    `json:"path"`    // the database file, made absolute
}

// errLocked is what tryLock returns when another open file holds the lock.
var errLocked = errors.New("locked by another open file")

// lockPath is the lock file of the database file at path: beside it, so that it is on the same
// file system and in the same directory, which the writer must be able to write to anyway
// (SQLite creates the -wal and -shm files there).
func lockPath(path string) string { return path + ".lock" }

// fileLock is a Store's hold on its database: an exclusive flock(2) on the lock file, taken
// without waiting and held as long as the file stays open. The lock, not the file, decides
// who holds the store: the file stays behind after a crash, with the dead holder in it, but
// the kernel drops the lock when the holder's process ends however it ends, so a daemon
// restarted right after a SIGKILL gets the lock at once. The file is never removed:
// removing it would let two processes lock two different files of the same name.
type fileLock struct{ f *os.File }

// takeLock takes the lock of the database file at path, or reports who holds it (*InUseError).
// Then it writes this process into the lock file, for the next one to name.
func takeLock(path string) (*fileLock, error) {
	lp := lockPath(path)
	// O_RDWR because the holder writes itself in; a directory deskpilot cannot write to fails
	// here, before the database is touched. Go opens files close-on-exec, so a child process
	// never inherits the lock.
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open store %s: lock: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		defer f.Close()
		if errors.Is(err, errLocked) {
			return nil, &InUseError{Path: path, Holder: readHolder(f)}
		}
		return nil, fmt.Errorf("open store %s: lock %s: %w", path, lp, err)
	}
	if err := writeHolder(f, self(path)); err != nil {
		f.Close() // releases the lock
		return nil, fmt.Errorf("open store %s: write lock file %s: %w", path, lp, err)
	}
	return &fileLock{f: f}, nil
}

// unlock empties the lock file (a store closed cleanly names no holder) and releases the lock.
func (l *fileLock) unlock() error {
	return errors.Join(l.f.Truncate(0), l.f.Close())
}

// self is this process as the holder of the database file at path. Since is the wall clock,
// not Options.Now: it tells an operator when a process started, whatever clock the store's
// rows are stamped with.
func self(path string) Holder {
	h := Holder{PID: os.Getpid(), Program: filepath.Base(os.Args[0]), Since: time.Now().UTC().Truncate(time.Second), Path: path}
	if host, err := os.Hostname(); err == nil {
		h.Host = host
	}
	if abs, err := filepath.Abs(path); err == nil {
		h.Path = abs
	}
	return h
}

// writeHolder writes h into the locked file f as one line of JSON. It writes before it
// truncates, so that a process reading the file meanwhile finds a whole record at its start
// (readHolder reads only the first JSON value) rather than an empty file.
func writeHolder(f *os.File, h Holder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(b)))
}

// readHolder reads the holder from the lock file f, which another process holds; it returns
// the zero Holder if the file is empty or not what writeHolder writes. In the instant between
// a holder's lock and its write, the file may still name the previous holder.
func readHolder(f *os.File) Holder {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 64<<10))
	if err != nil {
		return Holder{}
	}
	var h Holder
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&h); err != nil || h.PID <= 0 {
		return Holder{}
	}
	// The record is shown on one line: a host name holds no newline, but the file is not ours.
	h.Host = strings.Join(strings.Fields(h.Host), " ")
	h.Program = strings.Join(strings.Fields(h.Program), " ")
	return h
}
