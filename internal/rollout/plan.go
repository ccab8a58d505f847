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
	// WaveSize is rollouts.waves.size: the most fleets of a wave after the canary when the
	// image has no Waves tag (0: one wave).
	WaveSize int
	// DrainMode is rollouts.drain.mode, for fleets and images without a Drain tag and images
	// without ScaleImmediately ("" is DrainNone).
	DrainMode string
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
		mode, err := DrainModeFor(req, fleetTags[name], p.Keys, p.DrainMode)
		if err != nil {
			problems = append(problems, fmt.Sprintf("fleet %q: %v", name, err))
			continue
		}
		start, end := w.Schedule(now, p.Margin)
		if start.IsZero() {
			problems = append(problems, fmt.Sprintf("fleet %q: window %s never opens", name, w))
			continue
		}
		steps = append(steps, Step{Fleet: name, State: StepWaiting, WindowStart: start.UTC(), WindowEnd: end.UTC(), NextAt: start.UTC(), DrainMode: mode})
	}
	if img.State == "FAILED" {
		problems = append(problems, fmt.Sprintf("image %q is FAILED", img.Name))
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Fleet < steps[j].Fleet })
	if len(problems) == 0 {
		problems = append(problems, p.assignWaves(req, steps)...)
	}
	if len(problems) > 0 {
		return nil, time.Time{}, Refusal(problems)
	}
	var first time.Time
	for _, s := range steps {
		if s.Wave == 1 && (first.IsZero() || s.WindowStart.Before(first)) {
			first = s.WindowStart
		}
	}
	return steps, first, nil
}

// assignWaves sets each step's Wave: the canary fleets are wave 1, the others follow in name
// order in waves of at most the Waves tag's size (else, with a canary, the planner's; 0 is
// one wave). It
// returns what is wrong with the Canary tag, if anything.
func (p Planner) assignWaves(req Request, steps []Step) []string {
	inRequest := map[string]bool{}
	for _, s := range steps {
		inRequest[s.Fleet] = true
	}
	canary := map[string]bool{}
	var problems []string
	for _, n := range req.CanaryFleets {
		if !inRequest[n] {
			problems = append(problems, fmt.Sprintf("canary fleet %q is not among the fleets of %s", n, p.Keys.FleetName))
		}
		canary[n] = true
	}
	for _, pre := range req.CanaryPrefixes {
		matched := false
		for _, s := range steps {
			if strings.HasPrefix(s.Fleet, pre) {
				canary[s.Fleet], matched = true, true
			}
		}
		if !matched {
			problems = append(problems, fmt.Sprintf("canary %s%s selects none of the fleets of %s", PrefixSelector, pre, p.Keys.FleetName))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	size := req.WaveSize
	if size == 0 && len(canary) > 0 {
		// rollouts.waves.size shapes progressive rollouts only: an image with neither a
		// Canary nor a Waves tag runs as the recipe's did, in one wave without a gate.
		size = p.WaveSize
	}
	wave, inWave := 1, 0
	if len(canary) > 0 {
		wave = 2
	}
	for i := range steps {
		if canary[steps[i].Fleet] {
			steps[i].Wave = 1
			continue
		}
		if size > 0 && inWave == size {
			wave, inWave = wave+1, 0
		}
		steps[i].Wave = wave
		inWave++
	}
	return nil
}

// waveCount is the number of waves steps form.
func waveCount(steps []Step) int {
	n := 1
	for _, s := range steps {
		n = max(n, s.Wave)
	}
	return n
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
		return req, Refusal(unmatched)
	}
	return req, nil
}

// Refusal is why a request cannot be planned: every problem at once, one per entry. Its text
// (a rollout's Reason) joins them with "; ".
type Refusal []string

func (r Refusal) Error() string { return strings.Join(r, "; ") }

// refusalReasons lists err's problems: a Refusal's entries, or err's text as the only one.
func refusalReasons(err error) []string {
	var r Refusal
	if errors.As(err, &r) {
		return slices.Clone(r)
	}
	return []string{err.Error()}
}
