// Package api is deskpilot's HTTP API, both sides of it: the Server the daemon mounts, with
// its dependencies as small interfaces, and the Client the command line uses. The wire types
// (DTOs) live here too, converted from the domain types, which carry no JSON tags.
//
// Conventions: JSON with snake_case names; times RFC 3339 in UTC, null for "none"; lists are
// arrays, [] when empty, never null; everything under /api/v1. Every failure answers
// {"error": {"code": "...", "message": "..."}} with Content-Type application/json, including
// an unknown path (404 not_found) and a wrong method (405 method_not_allowed, with Allow).
// docs/api.md documents each endpoint.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// Limits and defaults of the endpoints.
const (
	// DefaultLimit and MaxLimit bound GET /api/v1/rollouts?limit=N.
	DefaultLimit = 100
	MaxLimit     = 1000
	// MaxEvents is how many of a rollout's latest events its detail holds.
	MaxEvents = 500
	// MaxResets is how many reset records GET /api/v1/resets returns at most.
	MaxResets = 1000
	// DefaultResetsSince is how far back GET /api/v1/resets looks without ?since.
	DefaultResetsSince = 24 * time.Hour
	// ReadyTimeout bounds all the checks of one GET /readyz.
	ReadyTimeout = 5 * time.Second
	// minLoopInterval is the shortest interval readiness assumes of a loop: every loop passes
	// at least every 5 s, and a pass may take a few seconds.
	minLoopInterval = 5 * time.Second
	// maxBody bounds a request body (POST /api/v1/plan).
	maxBody = 64 << 10
	// maxUser bounds the UserHeader value kept.
	maxUser = 64
)

// UserHeader names who asks, for a rollout's history: a request to the mutating API is
// recorded as by "api:<value>" (cut to 64 characters), or by "api" without it. It is what the
// caller says: only the bearer token is checked.
const UserHeader = "X-Deskpilot-User"

// RolloutStore is what the API reads of rollouts (*store.Store).
type RolloutStore interface {
	// Rollouts returns up to limit rollouts with their steps, newest first (0: all).
	Rollouts(ctx context.Context, limit int) ([]rollout.Rollout, error)
	// ActiveRollouts returns the pending and running rollouts, oldest first.
	ActiveRollouts(ctx context.Context) ([]rollout.Rollout, error)
	// Rollout returns one rollout; ok is false when there is none.
	Rollout(ctx context.Context, id int64) (r rollout.Rollout, ok bool, err error)
	// Events returns up to limit events of a rollout, newest first.
	Events(ctx context.Context, rolloutID int64, limit int) ([]history.Event, error)
	// SavedCapacities returns every fleet's saved Min/Max.
	SavedCapacities(ctx context.Context) ([]rollout.SavedCapacity, error)
}

// ResetStore is what the API reads of WorkSpaces resets (*store.Store).
type ResetStore interface {
	// Records returns the history from since on, oldest first, at most limit records.
	Records(ctx context.Context, since time.Time, limit int) ([]reset.Record, error)
	// Trackers returns every tracked WorkSpace by id.
	Trackers(ctx context.Context) (map[string]reset.Tracked, error)
}

// Requester performs a person's requests on rollouts (*rollout.Controller).
type Requester interface {
	// Request returns an error wrapping rollout.ErrNoRollout or rollout.ErrConflict when the
	// request cannot apply; nothing is changed then.
	Request(ctx context.Context, id int64, kind rollout.RequestKind, by string) (rollout.Rollout, error)
	// Plan returns a rollout's waves.
	Plan(r rollout.Rollout) []rollout.WavePlan
}

// Planner answers what tagging an image would do, changing nothing. An *Error it returns
// (a 404 for an unknown image, a 503 when AWS cannot be read) is answered as it is.
type Planner interface {
	DryRun(ctx context.Context, req PlanRequest) (PlanResult, error)
}

// Fleets reads AppStream fleets (rollout.AppStream).
type Fleets interface {
	// Fleets returns the named fleets by name; nil names means every fleet.
	Fleets(ctx context.Context, names []string) (map[string]rollout.Fleet, error)
}

// Targets reads fleets' scalable targets (rollout.Scaler).
type Targets interface {
	// Targets returns the targets of the named fleets that have one, by fleet name; when only
	// some could be read, those with a rollout.FleetErrors naming the others.
	Targets(ctx context.Context, fleets []string) (map[string]rollout.Target, error)
}

// Pinger tells whether the store can be written.
type Pinger interface {
	Ping(ctx context.Context) error
}

// LoopStatus is how one of the daemon's loops is doing, for readiness.
type LoopStatus struct {
	// Name is the loop's.
	Name string
	// LastOK is when its latest pass that worked ended (zero: none yet).
	LastOK time.Time
	// LastError is the error of its latest pass, if that one failed.
	LastError string
	// Interval is how often it runs when nothing wakes it.
	Interval time.Duration
}

// Server serves the API. Rollouts and Resets are required; a nil Requester means rollouts are
// off (the requests and the plan answer 409), a nil Planner or Fleets that those endpoints
// are off (409), a nil Targets that fleets are listed without targets. The readiness checks
// are Store, each of Loops, then AWS, each left out when nil.
type Server struct {
	Rollouts RolloutStore
	Resets   ResetStore
	Requests Requester
	Planner  Planner
	Fleets   Fleets
	Targets  Targets
	// Store is checked by /readyz (can it be written?).
	Store Pinger
	// Loops reports the daemon's loops; /readyz wants each to have passed within 3 of its
	// intervals (at least 5 s each).
	Loops func() []LoopStatus
	// AWS is checked by /readyz (can AWS be reached?).
	AWS func(ctx context.Context) error
	// TargetFleets, when set, are the fleets of each target, which GET /api/v1/fleets lists
	// together (a target that cannot be read is a warning); otherwise Fleets and Targets are.
	TargetFleets []FleetSource
	// TargetHealth, when set, reports each account and region served (GET /api/v1/targets).
	TargetHealth func() []TargetStatus
	// TargetsInReadiness makes /readyz report the targets and judge them together in its
	// "targets" check (the daemon has a targets list; its targets' loops are then not among
	// Loops).
	TargetsInReadiness bool
	// Leader, when set, says who leads; /readyz reports it (a follower is ready: it serves the
	// API and the dashboard).
	Leader func() *LeaderStatus
	// Token is the bearer token of the mutating endpoints; empty turns them off (403).
	Token string
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
	// Logger receives the internal errors answered 500 (nil: discarded).
	Logger *slog.Logger
}

// Handler serves /healthz, /readyz and /api/v1/. Everything it does not know answers a JSON
// 404, and a known path with a wrong method a JSON 405 with Allow.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/v1/fleets", s.fleets)
	mux.HandleFunc("GET /api/v1/rollouts", s.rollouts)
	mux.HandleFunc("GET /api/v1/rollouts/{id}", s.rollout)
	mux.HandleFunc("POST /api/v1/rollouts/{id}/approve", s.authorized(s.request(rollout.RequestApprove)))
	mux.HandleFunc("POST /api/v1/rollouts/{id}/cancel", s.authorized(s.request(rollout.RequestCancel)))
	mux.HandleFunc("POST /api/v1/rollouts/{id}/rollback", s.authorized(s.request(rollout.RequestRollback)))
	mux.HandleFunc("POST /api/v1/plan", s.plan)
	mux.HandleFunc("GET /api/v1/resets", s.resets)
	mux.HandleFunc("GET /api/v1/resets/pending", s.pendingResets)
	mux.HandleFunc("GET /api/v1/saved-capacity", s.savedCapacity)
	mux.HandleFunc("GET /api/v1/targets", s.targets)
	return jsonMuxErrors(mux)
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now()
}

// readyz answers 200 when every check passed, else 503, with every check either way.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
	defer cancel()
	out := Readiness{Ready: true, Checks: []ReadinessCheck{}}
	add := func(c ReadinessCheck) {
		out.Checks = append(out.Checks, c)
		out.Ready = out.Ready && c.OK
	}
	check := func(name string, err error, ok string) {
		if err != nil {
			add(ReadinessCheck{Name: name, Message: err.Error()})
			return
		}
		add(ReadinessCheck{Name: name, OK: true, Message: ok})
	}
	if s.Store != nil {
		check("store", s.Store.Ping(ctx), "writable")
	}
	if s.Loops != nil {
		now := s.now()
		for _, l := range s.Loops() {
			add(LoopCheck(l, now))
		}
	}
	if s.AWS != nil {
		check("aws", s.AWS(ctx), "reachable")
	}
	if s.TargetHealth != nil && s.TargetsInReadiness {
		if ts := s.TargetHealth(); len(ts) > 0 {
			out.Targets = ts
			add(TargetsCheck(ts))
		}
	}
	if s.Leader != nil {
		if l := s.Leader(); l != nil {
			out.Leader = l
			msg := "follower (read-only); leader " + l.Leader
			if l.Leader == "" {
				msg = "follower (read-only); no leader seen yet"
			}
			if l.Leading {
				msg = "leader"
			}
			add(ReadinessCheck{Name: "leader", OK: true, Message: msg})
		}
	}
	code := http.StatusOK
	if !out.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, out)
}

// LoopCheck is the readiness of a loop at now: its latest good pass ended within 3 of its
// intervals (taken as at least 5 s).
func LoopCheck(l LoopStatus, now time.Time) ReadinessCheck {
	c := ReadinessCheck{Name: "loop " + l.Name}
	limit := 3 * max(l.Interval, minLoopInterval)
	switch age := now.Sub(l.LastOK); {
	case l.LastOK.IsZero():
		c.Message = "no pass has worked yet"
	case age > limit:
		c.Message = fmt.Sprintf("the latest good pass was %s ago (more than %s)", age.Round(time.Second), limit)
	default:
		c.OK = true
		c.Message = fmt.Sprintf("the latest good pass was %s ago", age.Round(time.Millisecond))
	}
	switch {
	case l.LastError != "" && c.OK:
		c.Message += fmt.Sprintf(" (ready until %s without a good pass), but the latest pass failed: %s", limit, l.LastError)
	case l.LastError != "":
		c.Message += "; the latest pass failed: " + l.LastError
	}
	return c
}

func (s *Server) fleets(w http.ResponseWriter, r *http.Request) {
	if s.Fleets == nil {
		writeError(w, Errorf(http.StatusConflict, "rollouts are off in this daemon (rollouts.enabled is false), so it does not read AppStream fleets"))
		return
	}
	ctx := r.Context()
	active, err := s.Rollouts.ActiveRollouts(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sources := s.TargetFleets
	if len(sources) == 0 {
		sources = []FleetSource{{Fleets: s.Fleets, Targets: s.Targets}}
	}
	out := FleetList{Fleets: []Fleet{}, Warnings: []string{}}
	var failed []error
	for _, src := range sources {
		fleets, warnings, err := src.read(ctx, active)
		out.Fleets = append(out.Fleets, fleets...)
		out.Warnings = append(out.Warnings, warnings...)
		if err != nil {
			failed = append(failed, err)
			// One target that cannot be read is a warning while the others answer.
			out.Warnings = append(out.Warnings, err.Error())
		}
	}
	if len(failed) == len(sources) {
		s.fail(w, r, unavailable("read AppStream fleets", errors.Join(failed...)))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// FleetSource is one target's fleets and scalable targets, for GET /api/v1/fleets.
type FleetSource struct {
	Account, Region string
	Fleets          Fleets
	Targets         Targets
}

// read returns the source's fleets with their targets and active rollouts (those of its account
// and region), the warnings about targets that could not be read, or the error that kept the
// fleets from being read at all.
func (src FleetSource) read(ctx context.Context, active []rollout.Rollout) ([]Fleet, []string, error) {
	where := ""
	if src.Account != "" || src.Region != "" {
		where = src.Account + "/" + src.Region + ": "
	}
	fleets, err := src.Fleets.Fleets(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%scannot read AppStream fleets: %w", where, err)
	}
	names := slices.Sorted(maps.Keys(fleets))
	var warnings []string
	var targets map[string]rollout.Target
	if src.Targets != nil && len(names) > 0 {
		targets, err = src.Targets.Targets(ctx, names)
		if fe, ok := errors.AsType[rollout.FleetErrors](err); ok {
			for _, n := range slices.Sorted(maps.Keys(fe)) {
				warnings = append(warnings, fmt.Sprintf("%sfleet %s: cannot read its scalable target: %v", where, n, fe[n]))
			}
		} else if err != nil {
			return nil, nil, fmt.Errorf("%scannot read scalable targets: %w", where, err)
		}
	}
	if src.Account != "" || src.Region != "" {
		active = slices.DeleteFunc(slices.Clone(active), func(r rollout.Rollout) bool {
			return r.Account != src.Account || r.Region != src.Region
		})
	}
	out := FromFleets(fleets, targets, active)
	for i := range out {
		out[i].Account, out[i].Region = src.Account, src.Region
	}
	return out, warnings, nil
}

// rolloutStates are the values of ?state=, besides "active" (pending and running).
var rolloutStates = []rollout.State{rollout.Pending, rollout.Running, rollout.Succeeded, rollout.Failed,
	rollout.Cancelled, rollout.Superseded, rollout.Refused, rollout.RolledBack}

func (s *Server) rollouts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, Errorf(http.StatusBadRequest, "limit must be a whole number from 1 to %d, not %q", MaxLimit, v))
			return
		}
		limit = n
	}
	states := map[rollout.State]bool{}
	onlyActive := true
	if v := q.Get("state"); v != "" {
		for part := range strings.SplitSeq(v, ",") {
			st := rollout.State(strings.TrimSpace(part))
			switch {
			case st == "active":
				states[rollout.Pending], states[rollout.Running] = true, true
			case slices.Contains(rolloutStates, st):
				states[st] = true
				onlyActive = onlyActive && st.Active()
			default:
				writeError(w, Errorf(http.StatusBadRequest, "state %q is not a rollout state: want active, %s (comma-separated)", st, joinStates()))
				return
			}
		}
	}
	image := q.Get("image")
	var rs []rollout.Rollout
	var err error
	switch {
	case len(states) == 0 && image == "":
		rs, err = s.Rollouts.Rollouts(r.Context(), limit)
	case len(states) > 0 && onlyActive:
		rs, err = s.Rollouts.ActiveRollouts(r.Context())
		slices.Reverse(rs) // newest first
	default:
		rs, err = s.Rollouts.Rollouts(r.Context(), 0)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	kept := rs[:0]
	for _, ro := range rs {
		if (len(states) == 0 || states[ro.State]) && (image == "" || ro.ImageName == image) {
			kept = append(kept, ro)
		}
	}
	if len(kept) > limit {
		kept = kept[:limit]
	}
	writeJSON(w, http.StatusOK, RolloutList{Rollouts: FromRollouts(kept)})
}

func joinStates() string {
	s := make([]string, len(rolloutStates))
	for i, st := range rolloutStates {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

func (s *Server) rollout(w http.ResponseWriter, r *http.Request) {
	id, ok := rolloutID(w, r)
	if !ok {
		return
	}
	ro, found, err := s.Rollouts.Rollout(r.Context(), id)
	switch {
	case err != nil:
		s.fail(w, r, err)
		return
	case !found:
		writeError(w, noRollout(id))
		return
	}
	s.detail(w, r, http.StatusOK, ro)
}

// detail answers a rollout with its waves and its latest events, oldest first.
func (s *Server) detail(w http.ResponseWriter, r *http.Request, code int, ro rollout.Rollout) {
	events, err := s.Rollouts.Events(r.Context(), ro.ID, MaxEvents)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	slices.Reverse(events)
	var waves []rollout.WavePlan
	if s.Requests != nil {
		waves = s.Requests.Plan(ro)
	}
	writeJSON(w, code, RolloutDetail{Rollout: FromRollout(ro), Waves: FromWaves(waves), Events: FromEvents(events)})
}

func noRollout(id int64) *Error {
	return Errorf(http.StatusNotFound, "rollout %d does not exist", id)
}

// request performs a person's request on the rollout in the path and answers the rollout as
// committed.
func (s *Server) request(kind rollout.RequestKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := rolloutID(w, r)
		if !ok {
			return
		}
		if s.Requests == nil {
			writeError(w, Errorf(http.StatusConflict, "rollouts are off in this daemon (rollouts.enabled is false)"))
			return
		}
		ro, err := s.Requests.Request(r.Context(), id, kind, requestedBy(r))
		switch {
		case errors.Is(err, rollout.ErrNoRollout):
			writeError(w, noRollout(id))
		case errors.Is(err, rollout.ErrConflict):
			writeError(w, Errorf(http.StatusConflict, "%s", strings.TrimPrefix(err.Error(), rollout.ErrConflict.Error()+": ")))
		case err != nil:
			s.fail(w, r, err)
		default:
			s.detail(w, r, http.StatusOK, ro)
		}
	}
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	if s.Planner == nil {
		writeError(w, Errorf(http.StatusConflict, "rollouts are off in this daemon (rollouts.enabled is false)"))
		return
	}
	var req PlanRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, Errorf(http.StatusBadRequest, "the body must be a JSON plan request {\"image\": ..., \"fleets\": ...}: %v", err))
		return
	}
	if dec.More() {
		writeError(w, Errorf(http.StatusBadRequest, "the body must hold one JSON object"))
		return
	}
	var missing []string
	if strings.TrimSpace(req.Image) == "" {
		missing = append(missing, "image")
	}
	if strings.TrimSpace(req.Fleets) == "" {
		missing = append(missing, "fleets")
	}
	if len(missing) > 0 {
		writeError(w, Errorf(http.StatusBadRequest, "the plan request needs %s", strings.Join(missing, " and ")))
		return
	}
	if req.Waves < 0 {
		writeError(w, Errorf(http.StatusBadRequest, "waves must be 0 (no Waves tag) or more, not %d", req.Waves))
		return
	}
	res, err := s.Planner.DryRun(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, normalizePlan(res))
}

// normalizePlan makes a planner's lists and map non-nil.
func normalizePlan(p PlanResult) PlanResult {
	if p.Tags == nil {
		p.Tags = map[string]string{}
	}
	p.Reasons, p.Steps, p.Waves = nonNil(p.Reasons), nonNil(p.Steps), nonNil(p.Waves)
	p.Supersedes, p.Notes = nonNil(p.Supersedes), nonNil(p.Notes)
	for i := range p.Waves {
		p.Waves[i].Fleets = nonNil(p.Waves[i].Fleets)
	}
	return p
}

func (s *Server) resets(w http.ResponseWriter, r *http.Request) {
	since := s.now().Add(-DefaultResetsSince)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, Errorf(http.StatusBadRequest, "since must be an RFC 3339 time such as 2026-03-01T00:00:00Z, not %q", v))
			return
		}
		since = t
	}
	records, err := s.Resets.Records(r.Context(), since, MaxResets+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := ResetList{Since: since.UTC()}
	if len(records) > MaxResets {
		records, out.Truncated = records[:MaxResets], true
	}
	out.Resets = FromRecords(records)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) pendingResets(w http.ResponseWriter, r *http.Request) {
	tracked, err := s.Resets.Trackers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, PendingResetList{Pending: Pending(tracked)})
}

func (s *Server) savedCapacity(w http.ResponseWriter, r *http.Request) {
	saved, err := s.Rollouts.SavedCapacities(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SavedCapacityList{SavedCapacity: FromSavedCapacities(saved)})
}

// unavailable marks an AWS read that failed: 503, unless the error chose its own answer.
func unavailable(what string, err error) error {
	if _, ok := errors.AsType[*Error](err); ok {
		return err
	}
	return Errorf(http.StatusServiceUnavailable, "%s: %v", what, err)
}

// fail answers err: the *Error it holds, or a 500 (logged).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := errors.AsType[*Error](err); ok {
		writeError(w, e)
		return
	}
	if s.Logger != nil {
		s.Logger.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, Errorf(http.StatusInternalServerError, "%v", err))
}

// authorized lets a request through only with "Authorization: Bearer <Token>": without a
// configured token it answers 403 (the mutating API is off), with a missing or wrong one 401.
func (s *Server) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Token == "" {
			writeError(w, Errorf(http.StatusForbidden,
				"this endpoint is off because the daemon has no API token: set server.token in its config or the DESKPILOT_TOKEN environment variable of deskpilot serve"))
			return
		}
		got, ok := bearer(r)
		if !ok || !sameToken(got, s.Token) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			msg := "wrong bearer token"
			if !ok {
				msg = "missing bearer token: send Authorization: Bearer <token>"
			}
			writeError(w, Errorf(http.StatusUnauthorized, "%s", msg))
			return
		}
		next(w, r)
	}
}

// bearer returns the token of an "Authorization: Bearer <token>" header (the scheme in any
// case).
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// sameToken compares in constant time, of the tokens' lengths too (it compares their
// digests).
func sameToken(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// rolloutID reads the rollout id in the path, answering 400 when it is not a number.
func rolloutID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, Errorf(http.StatusBadRequest, "rollout id must be a positive whole number, not %q", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// requestedBy names who made a request: "api", or "api:<UserHeader>" when the header holds
// something printable.
func requestedBy(r *http.Request) string {
	user := strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return -1
		}
		return c
	}, strings.ToValidUTF8(r.Header.Get(UserHeader), ""))
	user = strings.TrimSpace(user)
	if rs := []rune(user); len(rs) > maxUser {
		user = strings.TrimSpace(string(rs[:maxUser]))
	}
	if user == "" {
		return "api"
	}
	return "api:" + user
}

// writeJSON answers v with the status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, Errorf(http.StatusInternalServerError, "encode the answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// wireError is the body of every error answer.
type wireError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers e: its status and {"error": {"code", "message"}}.
func writeError(w http.ResponseWriter, e *Error) {
	var body wireError
	body.Error.Code, body.Error.Message = e.Code, e.Message
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(b, '\n'))
}

// jsonMuxErrors sends the answers the mux makes itself (404 for a path no pattern has, 405
// with Allow for a method none allows) as JSON errors, like every other error.
func jsonMuxErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		got := muxAnswer{header: http.Header{}}
		h.ServeHTTP(&got, r)
		switch got.code {
		case http.StatusMethodNotAllowed:
			allow := got.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, Errorf(http.StatusMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
		case http.StatusNotFound:
			writeError(w, Errorf(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
		default: // a redirect to the cleaned path
			mux.ServeHTTP(w, r)
		}
	})
}

// muxAnswer records the status and headers of the mux's own answer; its text body is dropped.
type muxAnswer struct {
	header http.Header
	code   int
}

func (a *muxAnswer) Header() http.Header { return a.header }

func (a *muxAnswer) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
}

func (a *muxAnswer) Write(p []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return len(p), nil
}
