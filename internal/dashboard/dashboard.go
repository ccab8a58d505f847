// Package dashboard is deskpilot's web dashboard: server-rendered pages (html/template, with
// the templates, the stylesheet and a little plain JavaScript embedded in the binary) that show
// every fleet with its image and capacity, the rollouts in progress with their waves, gates and
// the countdown to the next window, each rollout's timeline from the typed history, and the
// WorkSpaces resets. Approve, cancel and rollback buttons call the daemon's HTTP API with the
// bearer token the user enters once per browser tab; the dashboard itself changes nothing.
//
// It reads everything through Source, which the daemon implements from its store, its rollout
// controller and its AWS adapters. It imports domain packages for their types only.
package dashboard

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/window"
)

// Source is what the dashboard reads. Each call is made while a page is rendered, so each
// should answer within a few seconds; a failed call blanks only its part of the page.
//
// Most methods have the signatures of the store's (*store.Store), Plan that of
// *rollout.Controller and Window that of config.Config.WindowFor, so an implementation is
// mostly embedding; only Fleets needs writing.
type Source interface {
	// Now is the daemon's clock: countdowns and "due in" are computed from it.
	Now() time.Time
	// Fleets returns every AppStream fleet as it is now, with its scalable target and the
	// capacity deskpilot saved for it. The dashboard caches the answer (Options.FleetsMaxAge)
	// so that open tabs do not add AWS calls with every refresh.
	Fleets(ctx context.Context) ([]FleetView, error)
	// Window returns a fleet's maintenance window; the zero Window when it has none.
	Window(fleet string) window.Window
	// ActiveRollouts returns the pending and running rollouts with their steps, oldest first.
	ActiveRollouts(ctx context.Context) ([]rollout.Rollout, error)
	// Rollouts returns up to limit rollouts with their steps, newest first.
	Rollouts(ctx context.Context, limit int) ([]rollout.Rollout, error)
	// Rollout returns one rollout with its steps; ok is false when there is none.
	Rollout(ctx context.Context, id int64) (r rollout.Rollout, ok bool, err error)
	// Plan returns a rollout's waves with their gates and expected starts; nil when rollouts
	// are off in the daemon (the dashboard then shows the steps only).
	Plan(r rollout.Rollout) []rollout.WavePlan
	// Events returns up to limit events of a rollout's history, newest first.
	Events(ctx context.Context, rolloutID int64, limit int) ([]history.Event, error)
	// Records returns the WorkSpaces reset decisions from since on, oldest first (limit 0:
	// all of them).
	Records(ctx context.Context, since time.Time, limit int) ([]reset.Record, error)
	// Trackers returns every tracked WorkSpace by ID (none when resets are off).
	Trackers(ctx context.Context) (map[string]reset.Tracked, error)
}

// FleetView is one AppStream fleet as the overview shows it.
type FleetView struct {
	Name string
	// ImageName is the image the fleet runs (or is being updated to).
	ImageName string
	// State is the fleet's state: RUNNING, STARTING, STOPPING or STOPPED.
	State string
	// Desired, Running, InUse and Available are the fleet's compute capacity.
	Desired, Running, InUse, Available int32
	// Target is the fleet's scalable target (Application Auto Scaling); nil when it has none.
	Target *rollout.Capacity
	// Saved is the Min/Max deskpilot saved before draining the fleet, and the rollout that
	// holds it; nil when deskpilot holds none.
	Saved *rollout.SavedCapacity
	// Errors are the fleet's FleetErrors, as "CODE: message".
	Errors []string
}

// Drained reports whether the fleet is drained by deskpilot: its target is 0/0 and its own
// Min/Max are saved, to be registered again when its rollout step finishes.
func (f FleetView) Drained() bool {
	return f.Target != nil && f.Target.Min == 0 && f.Target.Max == 0 && f.Saved != nil
}

// Defaults of Options.
const (
	// DefaultRefresh is how often an open page fetches its live part again.
	DefaultRefresh = 5 * time.Second
	// DefaultFleetsMaxAge is how long an answer of Source.Fleets is reused.
	DefaultFleetsMaxAge = 10 * time.Second
	// DefaultTimeout bounds the Source calls of one page.
	DefaultTimeout = 10 * time.Second
)

// Options configure a Dashboard. The zero value is ready to use.
type Options struct {
	// DemoToken, when set, is embedded in every page as the API token, so that the buttons
	// work without the user typing one (serve --sim only: anyone who can load the page can
	// then use the token). Without it the page never holds a token: the user enters it and
	// it stays in the tab's sessionStorage.
	DemoToken string
	// Refresh is how often an open page fetches its live part (0: DefaultRefresh).
	Refresh time.Duration
	// FleetsMaxAge is how long an answer of Source.Fleets is reused for every page and tab
	// (0: DefaultFleetsMaxAge; negative: never reused).
	FleetsMaxAge time.Duration
	// Timeout bounds the Source calls of one page (0: DefaultTimeout).
	Timeout time.Duration
	// Location is the time zone of the times shown, except window openings, which are shown
	// in their window's zone (nil: UTC).
	Location *time.Location
	// Logger receives the errors of Source calls (nil: discarded).
	Logger *slog.Logger
}

// Dashboard serves the web dashboard.
type Dashboard struct {
	src    Source
	opts   Options
	pages  map[string]*pageTemplate
	fleets fleetCache
}

// New returns a dashboard reading src.
func New(src Source, opts Options) *Dashboard {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.FleetsMaxAge == 0 {
		opts.FleetsMaxAge = DefaultFleetsMaxAge
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dashboard{src: src, opts: opts, pages: parsePages(), fleets: fleetCache{maxAge: opts.FleetsMaxAge}}
}

// Handler serves the dashboard at the root of a server that serves the daemon's API under
// /api/ (the buttons call /api/v1/rollouts/{id}/{approve|cancel|rollback}):
//
//	GET /                 the overview: fleets, drained fleets, rollouts in progress
//	GET /rollouts/{id}    one rollout: summary, actions, waves, steps, timeline
//	GET /resets           WorkSpaces resets: pending ones and recent decisions
//	GET /static/...       the stylesheet and the script
//
// A page asked for with ?partial=1 answers only its live part, which the page's script
// fetches every Options.Refresh to stay current without reloading. Every other path is 404.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.overview)
	mux.HandleFunc("GET /rollouts/{id}", d.rollout)
	mux.HandleFunc("GET /resets", d.resets)
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("/", d.notFound)
	return securityHeaders(mux)
}

// securityHeaders forbids what the dashboard never does: scripts, styles and requests from
// anywhere but itself, being framed, sending the page's address elsewhere.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// fleetCache shares one answer of Source.Fleets among the pages and tabs of maxAge: a dashboard
// left open in many tabs costs the AWS account one DescribeFleets per maxAge, not per tab.
type fleetCache struct {
	maxAge time.Duration
	// mu is held during the call, so concurrent pages share it.
	mu     sync.Mutex
	at     time.Time
	fleets []FleetView
}

func (c *fleetCache) get(ctx context.Context, src Source) ([]FleetView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The wall clock, not the daemon's: this bounds the rate of AWS calls.
	if c.maxAge > 0 && !c.at.IsZero() && time.Since(c.at) < c.maxAge {
		return c.fleets, nil
	}
	fleets, err := src.Fleets(ctx)
	if err != nil {
		return nil, err // not cached: the next page asks again
	}
	c.fleets, c.at = fleets, time.Now()
	return fleets, nil
}
