package sns

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Seen remembers which SNS messages have been acted on, so that a message
// SNS delivers twice (it retries, and may duplicate) is acted on once.
//
// It is two-phase: SeenBefore claims a message before the handler acts on
// it, and Forget releases the claim when acting failed, so that SNS's retry
// of the same message is acted on. A claim that is never released stays: a
// message whose action succeeded is never acted on again.
type Seen interface {
	// SeenBefore atomically records messageID and reports whether it was
	// already recorded. at is the message's signed Timestamp: a record
	// whose at is older than the Verifier's MaxAge (plus MaxClockSkew) may
	// be dropped, since the Verifier rejects such a message as stale anyway.
	SeenBefore(ctx context.Context, messageID string, at time.Time) (bool, error)
	// Forget removes the record of messageID, if any.
	Forget(ctx context.Context, messageID string) error
}

// Defaults of a MemorySeen.
const (
	DefaultSeenMax = 10000
	// DefaultSeenMaxAge covers a message accepted at the very edge of the
	// default freshness window.
	DefaultSeenMaxAge = DefaultMaxAge + MaxClockSkew
)

// MemorySeen is a Seen held in memory, for tests and a single process. It
// keeps at most Max records, dropping the least recently seen first, and
// drops records whose at is older than MaxAge. The zero value is ready to
// use; its fields must not change once it is in use.
//
// Only messages that passed verification are recorded, so an attacker
// cannot flush it; a Max reached by genuine traffic, or a MaxAge shorter than
// the Verifier's, would let a replayed message through again.
type MemorySeen struct {
	// Max is the number of records kept; zero means DefaultSeenMax.
	Max int
	// MaxAge is how long a record is kept after its at; zero means
	// DefaultSeenMaxAge.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu  sync.Mutex
	ids map[string]*list.Element // of *seenRecord, most recently seen first
	lru list.List
}

var _ Seen = (*MemorySeen)(nil)

type seenRecord struct {
	id string
	at time.Time
}

// SeenBefore implements Seen. It never fails.
func (s *MemorySeen) SeenBefore(_ context.Context, messageID string, at time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	maxAge := s.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultSeenMaxAge
	}
	limit := s.Max
	if limit <= 0 {
		limit = DefaultSeenMax
	}
	if s.ids == nil {
		s.ids = map[string]*list.Element{}
	}

	found := false
	if e, ok := s.ids[messageID]; ok {
		if r := e.Value.(*seenRecord); now.Sub(r.at) <= maxAge {
			found = true
			s.lru.MoveToFront(e)
		} else {
			s.remove(e)
		}
	}
	if !found {
		s.ids[messageID] = s.lru.PushFront(&seenRecord{id: messageID, at: at})
	}
	// Drop what is over the count, and expired records at the cold end.
	// Expired records elsewhere stay a little longer, which is harmless.
	for e := s.lru.Back(); e != nil && (s.lru.Len() > limit || now.Sub(e.Value.(*seenRecord).at) > maxAge); e = s.lru.Back() {
		s.remove(e)
	}
	return found, nil
}

// Forget implements Seen. It never fails.
func (s *MemorySeen) Forget(_ context.Context, messageID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.ids[messageID]; ok {
		s.remove(e)
	}
	return nil
}

// Len returns the number of records held.
func (s *MemorySeen) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

func (s *MemorySeen) remove(e *list.Element) {
	s.lru.Remove(e)
	delete(s.ids, e.Value.(*seenRecord).id)
}
