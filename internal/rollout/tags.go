package rollout

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TagKeys are the tag names of the protocol. The defaults are the recipe's, so admins keep
// their habits; each can be renamed in the config.
type TagKeys struct {
	// FleetName on an image: fleet names separated by "/". Removing it cancels.
	FleetName string
	// ScaleImmediately on an image: "True" (any case) drains the fleets after the update.
	ScaleImmediately string
	// Status on an image: written by deskpilot ("Pending/<start>", "Failed/<time>"); on a
	// drained fleet: "Pending" while its Min/Max are saved.
	Status string
	// MaintenanceWindow on a fleet: that fleet's window, overriding the config.
	MaintenanceWindow string
	// SavedMin and SavedMax on a drained fleet: its Min/Max before the drain.
	SavedMin, SavedMax string
	// Canary on an image: fleets (as in FleetName, a subset of it) that form wave 1.
	Canary string
	// Waves on an image: the most fleets in each later wave.
	Waves string
	// Approval on an image: "Manual" waits for a person after the canary wave is healthy.
	Approval string
	// Approve on an image: "True" is a person's approval.
	Approve string
	// Drain on an image or a fleet: how the fleet's old-image sessions go (DrainModes); a
	// fleet's tag wins over the image's.
	Drain string
}

// DefaultTagKeys are the recipe's tag names.
func DefaultTagKeys() TagKeys {
	return TagKeys{
		FleetName: "FleetName", ScaleImmediately: "ScaleImmediately", Status: "Status",
		MaintenanceWindow: "MaintenanceWindow", SavedMin: "Min", SavedMax: "Max",
		Canary: "Canary", Waves: "Waves", Approval: "Approval", Approve: "Approve", Drain: "Drain",
	}
}

// fleetNamePattern is AppStream's name rule; a fleet name that breaks it cannot exist.
var fleetNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`)

// PrefixSelector starts a FleetName entry that selects fleets by name prefix
// ("prefix:finance-"). ':' cannot occur in a fleet name, so it cannot be mistaken for one.
const PrefixSelector = "prefix:"

// Request is what an image's tags ask for.
type Request struct {
	// Fleets in the order written, without duplicates.
	Fleets []string
	// Prefixes select, at planning, every fleet whose name starts with one of them; they are
	// written "prefix:finance-". They exist because a tag value holds at most 256 characters
	// (about 25 fleet names) and may not contain * or ?; the recipe's form cannot name more.
	Prefixes []string
	// FleetTag is the raw FleetName value.
	FleetTag         string
	ScaleImmediately bool
	// Canary is the raw Canary value; CanaryFleets and CanaryPrefixes what it names (each must
	// be among the request's fleets).
	Canary         string
	CanaryFleets   []string
	CanaryPrefixes []string
	// WaveSize is the Waves tag (0 when absent).
	WaveSize int
	// Approval is Approval=Manual.
	Approval bool
	// Drain is the image's Drain tag, one of DrainModes ("" when absent).
	Drain string
}

// Drain modes: how a fleet's sessions on old-image instances go after the image is applied.
const (
	// DrainNone: the fleet keeps its capacity; AWS moves idle instances to the new image over
	// time and in-use ones when their session ends.
	DrainNone = "none"
	// DrainScaleToZero: the recipe's ScaleImmediately: Min/Max saved, scaled to 0/0 (its
	// scaling suspended) until no instance is available, then restored exactly.
	DrainScaleToZero = "scale-to-zero"
	// DrainSessions: for multi-session fleets: every instance that serves sessions that
	// started before the image was applied is put in drain mode (DrainSessionInstance) as long
	// as other instances keep free slots for new sessions; done when no such session is left.
	DrainSessions = "sessions"
	// DrainDeadline: as scale-to-zero (single-session) or sessions (multi-session), and the
	// sessions still on old-image instances at rollouts.drain.session_deadline after the image
	// was applied are ended (ExpireSession), after a warning.
	DrainDeadline = "deadline"
)

// DrainModes are the values of the Drain tag and of rollouts.drain.mode.
var DrainModes = []string{DrainNone, DrainScaleToZero, DrainSessions, DrainDeadline}

// parseDrain reads a Drain tag value (any case); ok is false when it is none of DrainModes.
func parseDrain(v string) (string, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	for _, m := range DrainModes {
		if v == m {
			return m, true
		}
	}
	return "", false
}

// DrainModeFor is a fleet's drain mode: its own Drain tag, else the image's, else
// ScaleImmediately=True (scale-to-zero, as in the recipe), else the configured default.
func DrainModeFor(req Request, fleetTags map[string]string, keys TagKeys, def string) (string, error) {
	if v, ok := fleetTags[keys.Drain]; ok && keys.Drain != "" {
		m, ok := parseDrain(v)
		if !ok {
			return "", fmt.Errorf("its tag %s=%q must be one of %s", keys.Drain, v, strings.Join(DrainModes, ", "))
		}
		return m, nil
	}
	switch {
	case req.Drain != "":
		return req.Drain, nil
	case req.ScaleImmediately:
		return DrainScaleToZero, nil
	case def != "":
		return def, nil
	}
	return DrainNone, nil
}

// maxWaveSize bounds the Waves tag; a rollout never has more fleets than this anyway.
const maxWaveSize = 1000

// Shape is the part of a request besides its fleets that makes it a different request when
// changed (a pending rollout is replanned).
func (r Request) sameShape(o Rollout) bool {
	return r.FleetTag == o.FleetTag && r.ScaleImmediately == o.ScaleImmediately && r.Drain == o.Drain && r.Canary == o.Canary &&
		r.WaveSize == o.WaveSize && r.Approval == o.Approval
}

// ParseRequest reads an image's tags. ok is false when the image has no FleetName tag (no
// request). A FleetName tag that names no valid fleet is an error saying what is wrong.
func ParseRequest(tags map[string]string, keys TagKeys) (req Request, ok bool, err error) {
	raw, ok := tags[keys.FleetName]
	if !ok {
		return Request{}, false, nil
	}
	req = Request{FleetTag: raw, ScaleImmediately: strings.EqualFold(strings.TrimSpace(tags[keys.ScaleImmediately]), "true")}
	var bad []string
	req.Fleets, req.Prefixes, bad = splitFleets(raw)
	var progressive []string
	if v, ok := tags[keys.Canary]; ok {
		req.Canary = v
		names, prefixes, cbad := splitFleets(v)
		switch {
		case len(cbad) > 0:
			progressive = append(progressive, fmt.Sprintf("tag %s=%q: %s cannot be fleet names (write them as in %s)", keys.Canary, v, strings.Join(cbad, ", "), keys.FleetName))
		case len(names) == 0 && len(prefixes) == 0:
			progressive = append(progressive, fmt.Sprintf("tag %s=%q names no fleet; write the canary fleets as in %s, e.g. fleet-a", keys.Canary, v, keys.FleetName))
		}
		req.CanaryFleets, req.CanaryPrefixes = names, prefixes
	}
	if v, ok := tags[keys.Waves]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > maxWaveSize {
			progressive = append(progressive, fmt.Sprintf("tag %s=%q must be a whole number of fleets per wave, 1 to %d", keys.Waves, v, maxWaveSize))
		} else {
			req.WaveSize = n
		}
	}
	if v, ok := tags[keys.Approval]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "manual":
			req.Approval = true
		case "auto", "":
		default:
			progressive = append(progressive, fmt.Sprintf("tag %s=%q must be Manual (wait for a person after the canary) or Auto", keys.Approval, v))
		}
	}
	if v, ok := tags[keys.Drain]; ok && keys.Drain != "" {
		if m, ok := parseDrain(v); ok {
			req.Drain = m
		} else {
			progressive = append(progressive, fmt.Sprintf("tag %s=%q must be one of %s", keys.Drain, v, strings.Join(DrainModes, ", ")))
		}
	}
	switch {
	case len(progressive) > 0:
		return req, true, Refusal(progressive)
	case len(bad) > 0:
		return req, true, fmt.Errorf("tag %s=%q: %s cannot be fleet names (letters, digits, _ . - only, starting with a letter or digit, at most 101 characters, or prefix:NAME-START to select fleets by prefix; separate fleets with /)",
			keys.FleetName, raw, strings.Join(bad, ", "))
	case len(req.Fleets) == 0 && len(req.Prefixes) == 0:
		return req, true, fmt.Errorf("tag %s=%q names no fleet; write fleet names separated by /, e.g. fleet-a/fleet-b", keys.FleetName, raw)
	}
	return req, true, nil
}

// StatusPending is the image's Status tag while a rollout waits for its window, in the
// recipe's form: Pending/<window start, RFC 3339 UTC>.
func StatusPending(start time.Time) string {
	return "Pending/" + start.UTC().Format(time.RFC3339)
}

// StatusFailed is the image's Status tag after a failed rollout.
func StatusFailed(at time.Time) string {
	return "Failed/" + at.UTC().Format(time.RFC3339)
}

// ParseSaved reads the Min/Max a drained fleet carries in its tags (written by deskpilot or
// the recipe). ok is false when they are absent or not a valid capacity.
func ParseSaved(tags map[string]string, keys TagKeys) (min, max int32, ok bool) {
	lo, err1 := strconv.ParseInt(strings.TrimSpace(tags[keys.SavedMin]), 10, 32)
	hi, err2 := strconv.ParseInt(strings.TrimSpace(tags[keys.SavedMax]), 10, 32)
	// Max 0 is what a crashed drain leaves behind (the recipe's defect 6), never an original.
	if err1 != nil || err2 != nil || lo < 0 || hi < lo || hi == 0 {
		return 0, 0, false
	}
	return int32(lo), int32(hi), true
}

// splitFleets reads a "/"-separated list of fleet names and prefix: selectors, without
// duplicates; bad holds the quoted entries that are neither.
func splitFleets(raw string) (names, prefixes, bad []string) {
	seen := map[string]bool{}
	for _, part := range strings.Split(raw, "/") {
		name := strings.TrimSpace(part)
		switch {
		case name == "" || seen[name]:
			continue
		case strings.HasPrefix(name, PrefixSelector):
			prefix := strings.TrimSpace(strings.TrimPrefix(name, PrefixSelector))
			if prefix == "" || !fleetNamePattern.MatchString(prefix) {
				bad = append(bad, strconv.Quote(name))
				continue
			}
			seen[name] = true
			prefixes = append(prefixes, prefix)
		case !fleetNamePattern.MatchString(name):
			bad = append(bad, strconv.Quote(name))
		default:
			seen[name] = true
			names = append(names, name)
		}
	}
	return names, prefixes, bad
}

// Approves reports whether an image's tags carry a person's approval (Approve=True).
func Approves(tags map[string]string, keys TagKeys) bool {
	return strings.EqualFold(strings.TrimSpace(tags[keys.Approve]), "true")
}

// Statuses of a progressive rollout on its image, besides Pending/ and Failed/.

// StatusCanary is the image's Status while the canary wave runs: Canary/<wave start>.
func StatusCanary(at time.Time) string { return "Canary/" + at.UTC().Format(time.RFC3339) }

// StatusAwaitingApproval is the image's Status while the rollout waits for a person.
func StatusAwaitingApproval(since time.Time) string {
	return "AwaitingApproval/" + since.UTC().Format(time.RFC3339)
}

// StatusWave is the image's Status while wave k of n runs: Wave/<k>/<n>.
func StatusWave(k, n int) string { return fmt.Sprintf("Wave/%d/%d", k, n) }

// StatusRolledBack is the image's Status after a rollback.
func StatusRolledBack(at time.Time) string { return "RolledBack/" + at.UTC().Format(time.RFC3339) }

// ownStatusPrefixes are the Status values deskpilot writes while a rollout is active; cancel
// and refusal remove them (and only them).
var ownStatusPrefixes = []string{"Pending/", "Canary/", "AwaitingApproval/", "Wave/"}
