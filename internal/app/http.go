package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
)

// UserHeader names who asks, for a rollout's history: a request to the mutating API is
// recorded as by "api:<value>" (cut to maxUser characters), or by "api" without it. It is
// what the caller says: only the bearer token is checked.
const UserHeader = "X-Deskpilot-User"

// maxUser bounds the UserHeader value kept.
const maxUser = 64

// rolloutRequester is what the API needs of the rollout controller (a *rollout.Controller):
// a person's requests on a rollout, and the plan of its waves.
type rolloutRequester interface {
	// Request returns an error wrapping rollout.ErrNoRollout or rollout.ErrConflict when the
	// request cannot apply.
	Request(ctx context.Context, id int64, kind rollout.RequestKind, by string) (rollout.Rollout, error)
	Plan(r rollout.Rollout) []rollout.WavePlan
}

var _ rolloutRequester = (*rollout.Controller)(nil)

// api serves the daemon's HTTP endpoints. Every failure under /api/ answers JSON
// {"error": "..."}. The GET endpoints are open; those that change a rollout need the bearer
// token.
type api struct {
	store *store.Store
	// rollouts is nil when rollouts.enabled is false.
	rollouts rolloutRequester
	// token is server.token; empty turns the mutating endpoints off (403).
	token string
	now   func() time.Time
	// sns receives SNS notifications at snsPath (nil unless topics are configured).
	sns     http.Handler
	snsPath string
}

// handler serves the daemon's HTTP endpoints.
func (m *Main) handler() http.Handler {
	a := &api{store: m.Store, token: m.Config.Server.Token, now: m.Now, sns: m.snsHandler, snsPath: m.Config.WorkSpaces.SNS.Path}
	if m.Rollouts != nil { // not a typed nil in the interface
		a.rollouts = m.Rollouts
	}
	return a.routes()
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/v1/rollouts", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 1000 {
			limit = 100
		}
		rs, err := a.store.Rollouts(r.Context(), limit)
		writeJSON(w, map[string]any{"rollouts": rs}, err)
	})
	mux.HandleFunc("GET /api/v1/rollouts/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := rolloutID(w, r)
		if !ok {
			return
		}
		ro, ok, err := a.store.Rollout(r.Context(), id)
		if err == nil && !ok {
			writeError(w, http.StatusNotFound, "no such rollout")
			return
		}
		events, eerr := a.store.Events(r.Context(), id, 200)
		if err == nil {
			err = eerr
		}
		writeJSON(w, map[string]any{"rollout": ro, "plan": a.plan(ro), "events": events}, err)
	})
	mux.HandleFunc("POST /api/v1/rollouts/{id}/approve", a.authorized(a.request(rollout.RequestApprove)))
	mux.HandleFunc("POST /api/v1/rollouts/{id}/cancel", a.authorized(a.request(rollout.RequestCancel)))
	mux.HandleFunc("POST /api/v1/rollouts/{id}/rollback", a.authorized(a.request(rollout.RequestRollback)))
	mux.HandleFunc("GET /api/v1/saved-capacity", func(w http.ResponseWriter, r *http.Request) {
		saved, err := a.store.SavedCapacities(r.Context())
		writeJSON(w, map[string]any{"saved_capacity": saved}, err)
	})
	mux.HandleFunc("GET /api/v1/resets", func(w http.ResponseWriter, r *http.Request) {
		since := a.now().Add(-24 * time.Hour)
		if v := r.URL.Query().Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "since must be an RFC 3339 time")
				return
			}
			since = t
		}
		records, err := a.store.Records(r.Context(), since, 1000)
		writeJSON(w, map[string]any{"since": since, "records": records}, err)
	})
	if a.sns != nil {
		mux.Handle(a.snsPath, a.sns)
	}
	return apiErrors(mux)
}

// apiErrors sends the answers the mux makes itself under /api/ (404 for a path no pattern
// has, 405 with Allow for a method none allows) as JSON, like every other /api/ error.
func apiErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" || !strings.HasPrefix(r.URL.Path, "/api/") {
			mux.ServeHTTP(w, r)
			return
		}
		got := muxAnswer{header: http.Header{}}
		h.ServeHTTP(&got, r)
		switch got.code {
		case http.StatusMethodNotAllowed:
			allow := got.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
		case http.StatusNotFound:
			writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
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

// authorized lets a request through only with "Authorization: Bearer <server.token>":
// without a configured token it answers 403 (the mutating API is off), with a missing or
// wrong one 401.
func (a *api) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.token == "" {
			writeError(w, http.StatusForbidden, fmt.Sprintf(
				"this endpoint is off because no API token is configured: set server.token in the config or the %s environment variable", config.TokenEnv))
			return
		}
		got, ok := bearer(r)
		if !ok || !sameToken(got, a.token) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			msg := "wrong bearer token"
			if !ok {
				msg = "missing bearer token: send Authorization: Bearer <token>"
			}
			writeError(w, http.StatusUnauthorized, msg)
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

// request performs a person's request on the rollout in the path, and answers the rollout
// as committed with its plan.
func (a *api) request(kind rollout.RequestKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := rolloutID(w, r)
		if !ok {
			return
		}
		if a.rollouts == nil {
			writeError(w, http.StatusConflict, "rollouts are off in this daemon (rollouts.enabled is false)")
			return
		}
		ro, err := a.rollouts.Request(r.Context(), id, kind, requestedBy(r))
		switch {
		case errors.Is(err, rollout.ErrNoRollout):
			writeError(w, http.StatusNotFound, err.Error())
		case errors.Is(err, rollout.ErrConflict):
			writeError(w, http.StatusConflict, err.Error())
		case err != nil:
			writeError(w, http.StatusInternalServerError, err.Error())
		default:
			writeJSON(w, map[string]any{"rollout": ro, "plan": a.plan(ro)}, nil)
		}
	}
}

// plan returns r's waves, an empty list when there are none or rollouts are off.
func (a *api) plan(r rollout.Rollout) []rollout.WavePlan {
	var p []rollout.WavePlan
	if a.rollouts != nil {
		p = a.rollouts.Plan(r)
	}
	if p == nil {
		p = []rollout.WavePlan{}
	}
	return p
}

// rolloutID reads the rollout id in the path, answering 400 when it is not a number.
func rolloutID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "rollout id must be a number")
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

// writeJSON answers v, or the error err as writeError does with 500.
func writeJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError answers a failed /api/ request: the status code and {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
