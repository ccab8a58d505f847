package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/dashboard"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
	"github.com/deskpilot/deskpilot/internal/window"
)

// dashSource is what the dashboard reads: the store, the controller's plans, the config's
// windows, and the fleets as AWS has them.
type dashSource struct {
	*store.Store
	m *Main
}

var _ dashboard.Source = dashSource{}

func (s dashSource) Now() time.Time                    { return s.m.Now() }
func (s dashSource) Window(fleet string) window.Window { return s.m.Config.WindowFor(fleet) }

func (s dashSource) Plan(r rollout.Rollout) []rollout.WavePlan {
	if s.m.Rollouts == nil {
		return nil
	}
	return targetRequests{s.m}.Plan(r)
}

// Fleets lists every fleet of every target with its scalable target and the capacity deskpilot
// holds for it (none when rollouts are off: then there is no AppStream access). With several
// targets a fleet's name is prefixed with its account and region; a target that cannot be read
// is left out, so that one failing account does not blank the page (its health is on /readyz
// and in deskpilot status).
func (s dashSource) Fleets(ctx context.Context) ([]dashboard.FleetView, error) {
	var out []dashboard.FleetView
	var errs []error
	for _, t := range s.m.targets {
		if t.appStream == nil {
			continue
		}
		views, err := s.targetFleets(ctx, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.key(), err))
			continue
		}
		out = append(out, views...)
	}
	if len(errs) > 0 && len(errs) == len(s.m.targets) {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (s dashSource) targetFleets(ctx context.Context, t *target) ([]dashboard.FleetView, error) {
	fleets, err := t.appStream.Fleets(ctx, nil)
	if err != nil {
		return nil, err
	}
	names := slices.Collect(maps.Keys(fleets))
	targets, err := t.scaler.Targets(ctx, names)
	if err != nil {
		return nil, err
	}
	saved, err := s.SavedFor(ctx, t.Account, t.Region, names)
	if err != nil {
		return nil, err
	}
	prefix := ""
	if len(s.m.targets) > 1 {
		prefix = t.key() + "/"
	}
	out := make([]dashboard.FleetView, 0, len(fleets))
	for name, f := range fleets {
		v := dashboard.FleetView{Name: prefix + name, ImageName: f.ImageARN[strings.LastIndex(f.ImageARN, "/")+1:], State: f.State,
			Desired: f.Desired, Running: f.Running, InUse: f.InUse, Available: f.Available, Errors: f.Errors}
		if c, ok := targets[name]; ok {
			v.Target = &c.Capacity
		}
		if sc, ok := saved[name]; ok {
			v.Saved = &sc
		}
		out = append(out, v)
	}
	return out, nil
}

// dashboardHandler is the dashboard over the daemon's own state. demoToken is embedded in
// the page only under serve --sim, so that its buttons work without an account.
func (m *Main) dashboardHandler() *dashboard.Dashboard {
	opts := m.Dashboard
	if opts.DemoToken == "" {
		opts.DemoToken = m.DemoToken
	}
	if opts.Logger == nil && m.Logger != nil {
		opts.Logger = m.Logger.With("component", "dashboard")
	}
	return dashboard.New(dashSource{Store: m.Store, m: m}, opts)
}
