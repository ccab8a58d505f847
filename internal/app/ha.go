package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/ha"
	"github.com/deskpilot/deskpilot/internal/store"
)

// leaseName is the lease the replicas on one PostgreSQL store compete for.
const leaseName = "leader"

// errNotLeader refuses an AWS call of a replica whose lease may have run out.
var errNotLeader = errors.New("not the leader: this replica's lease may have run out, so it makes no AWS call")

// leases adapts the store's lease table to ha.Leases.
type leases struct{ st *store.Store }

func haLease(l store.Lease) ha.Lease {
	return ha.Lease{Holder: l.Holder, Epoch: l.Epoch, Expires: l.Expires}
}

func (l leases) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (ha.Lease, bool, error) {
	x, ok, err := l.st.AcquireLease(ctx, name, holder, ttl)
	return haLease(x), ok, err
}

func (l leases) RenewLease(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) (ha.Lease, bool, error) {
	x, ok, err := l.st.RenewLease(ctx, name, holder, epoch, ttl)
	return haLease(x), ok, err
}

func (l leases) ReleaseLease(ctx context.Context, name, holder string, epoch int64) error {
	return l.st.ReleaseLease(ctx, name, holder, epoch)
}

func (l leases) Leader(ctx context.Context, name string) (ha.Lease, bool, error) {
	x, ok, err := l.st.Leader(ctx, name)
	return haLease(x), ok, err
}

// holderName names this replica in the lease: its host, its process and a random part, so that
// a restarted process is a new holder (its predecessor's epoch is not its own).
func holderName() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// setUpHA makes this replica one of several on a PostgreSQL store: until it holds the lease
// its writes are fenced off (epoch 0 is no lease's), its loops do nothing, and its acting AWS
// calls are refused.
func (m *Main) setUpHA() {
	holder := holderName()
	m.Store.Fence(leaseName, holder, 0)
	m.elector = ha.New(leases{m.Store}, leaseName, holder, ha.TimingFor(m.Config.HA.Takeover.Duration), m.Now, m.Logger.With("component", "ha"))
	m.elector.OnElected = func(epoch int64) {
		m.Store.Fence(leaseName, holder, epoch)
		for _, c := range m.components() {
			c.poke()
		}
	}
	m.Metrics.SetLeader(holder, false, 0)
}

// leading reports whether this replica may act: always without HA.
func (m *Main) leading() bool { return m.elector == nil || m.elector.Leading() }

// actingKey marks the context of a loop's pass: its AWS calls are the leader's to make.
type actingKey struct{}

// gateMiddleware refuses an acting AWS call when this replica does not lead (its own view of
// the lease, on its monotonic clock), before the request is signed or sent: a leader paused
// past its lease that wakes up mid-pass makes no call. Calls of the API's read endpoints
// (a follower's fleet list) are not acting and go through.
func (m *Main) gateMiddleware() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("deskpilot-leader-gate",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if ctx.Value(actingKey{}) != nil && !m.leading() {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errNotLeader
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// gate wraps a loop's pass: on a follower it does nothing (and asks to run again soon, in case
// the lease comes), on the leader it runs with an acting context.
func (m *Main) gate(pass func(context.Context) (time.Time, error)) func(context.Context) (time.Time, error) {
	if pass == nil {
		return nil
	}
	return func(ctx context.Context) (time.Time, error) {
		if !m.leading() {
			return m.Now().Add(time.Second), nil
		}
		return pass(context.WithValue(ctx, actingKey{}, true))
	}
}

// haPass is the elector's loop: it takes or renews the lease and reports it in the metrics.
func (m *Main) haPass(ctx context.Context) (time.Time, error) {
	next, err := m.elector.Tick(ctx)
	m.Metrics.SetLeader(m.elector.Holder(), m.elector.Leading(), m.elector.Epoch())
	return next, err
}

// leaderStatus is what /readyz says of the lease; nil without HA.
func (m *Main) leaderStatus() *api.LeaderStatus {
	if m.elector == nil {
		return nil
	}
	st := m.elector.Status()
	return &api.LeaderStatus{Self: st.Self, Leading: st.Leading, Leader: st.Leader, Epoch: st.Epoch, Expires: st.Expires}
}

// followerGuard answers the API's mutating requests on a follower with 503 and who leads: the
// leader acts on them, and a follower's write would be fenced anyway.
func (m *Main) followerGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/rollouts/") && !m.leading() {
			st := m.elector.Status()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"error":%q}`+"\n", "this replica is a follower and does not act; send the request to the leader ("+orNone(st.Leader)+")")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func orNone(s string) string {
	if s == "" {
		return "none yet"
	}
	return s
}
