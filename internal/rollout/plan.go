package rollout

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/window"
)

// Planner turns a request into per-fleet steps, each with the window opening it may start in.
type Planner struct {
	Keys TagKeys
	// WindowFor returns a fleet's window: its MaintenanceWindow tag if it has one, else the
	// config's. An error means the fleet's tag holds a bad window.
	WindowFor func(fleet string, tags map[string]string) (window.Window, error)
	// Margin is how much of an open window must be left for a rollout to start in it now.
	Margin time.Duration
}

// Plan checks a request against the fleets as they are and returns its steps, ordered by
// fleet name, and the earliest window start. Any fleet that cannot take the image refuses the
// whole request, with every reason at once: nothing is half-planned.
func (p Planner) Plan(req Request, img Image, fleets map[string]Fleet, fleetTags map[string]map[string]string, now time.Time) ([]Step, time.Time, error) {
	var problems []string
	var steps []Step
	for _, name := range req.Fleets {
		f, ok := fleets[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("fleet %q does not exist", name))
			continue
		case f.Type == fleetElastic:
			problems = append(problems, fmt.Sprintf("fleet %q is ELASTIC: Elastic fleets stream from app blocks and have no image", name))
			continue
		case f.State == fleetRunning && f.Platform != "" && img.Platform != "" && f.Platform != img.Platform:
			problems = append(problems, fmt.Sprintf("fleet %q runs %s but the image is %s: a running fleet cannot change its operating system", name, f.Platform, img.Platform))
			continue
		}
		w, err := p.WindowFor(name, fleetTags[name])
		if err != nil {
			problems = append(problems, fmt.Sprintf("fleet %q: %v", name, err))
			continue
		}
		start, end := w.Schedule(now, p.Margin)
		if start.IsZero() {
			problems = append(problems, fmt.Sprintf("fleet %q: window %s never opens", name, w))
			continue
		}
		steps = append(steps, Step{Fleet: name, State: StepWaiting, WindowStart: start.UTC(), WindowEnd: end.UTC(), NextAt: start.UTC()})
	}
	if img.State == "FAILED" {
		problems = append(problems, fmt.Sprintf("image %q is FAILED", img.Name))
	}
	if len(problems) > 0 {
		return nil, time.Time{}, errors.New(strings.Join(problems, "; "))
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Fleet < steps[j].Fleet })
	first := steps[0].WindowStart
	for _, s := range steps[1:] {
		if s.WindowStart.Before(first) {
			first = s.WindowStart
		}
	}
	return steps, first, nil
}

// expandPrefixes adds the fleets each prefix selects to the request's names, in name order.
// A prefix that selects no fleet is an error: it is probably a typo.
func expandPrefixes(req Request, fleets map[string]Fleet) (Request, error) {
	names := make([]string, 0, len(fleets))
	for name := range fleets {
		names = append(names, name)
	}
	sort.Strings(names)
	req.Fleets = slices.Clone(req.Fleets)
	seen := map[string]bool{}
	for _, n := range req.Fleets {
		seen[n] = true
	}
	var unmatched []string
	for _, p := range req.Prefixes {
		matched := false
		for _, name := range names {
			if strings.HasPrefix(name, p) {
				matched = true
				if !seen[name] {
					seen[name] = true
					req.Fleets = append(req.Fleets, name)
				}
			}
		}
		if !matched {
			unmatched = append(unmatched, fmt.Sprintf("no fleet name starts with %q (%s%s)", p, PrefixSelector, p))
		}
	}
	if len(unmatched) > 0 {
		return req, errors.New(strings.Join(unmatched, "; "))
	}
	return req, nil
}
