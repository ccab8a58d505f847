package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// States of a target.
const (
	// TargetOK: every loop of the target passed its latest pass.
	TargetOK = "ok"
	// TargetFailing: a loop of the target failed its latest pass; LastError says why.
	TargetFailing = "failing"
	// TargetStarting: no loop of the target has run yet.
	TargetStarting = "starting"
)

// TargetStatus is how one account and region the daemon serves is doing. A failing target is
// isolated: the others go on.
type TargetStatus struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// RoleARN is the role assumed for the target ("" for the daemon's own credentials).
	RoleARN string `json:"role_arn"`
	Healthy bool   `json:"healthy"`
	// State is ok, failing or starting.
	State string `json:"state"`
	// LastOK is when a loop of the target last passed (zero: never).
	LastOK time.Time `json:"last_ok"`
	// LastError, ErrorClass and ErrorAt are the latest failing loop's error, its fault class
	// (denied, transient, throttled, …) and when it failed; FailingLoops name every loop whose
	// latest pass failed.
	LastError    string    `json:"last_error,omitempty"`
	ErrorClass   string    `json:"error_class,omitempty"`
	ErrorAt      time.Time `json:"error_at,omitzero"`
	FailingLoops []string  `json:"failing_loops,omitempty"`
	// CredentialsExpire is when the assumed role's current credentials expire (they are
	// renewed before); CredentialRefreshes counts the AssumeRole calls that worked.
	CredentialsExpire   time.Time `json:"credentials_expire,omitzero"`
	CredentialRefreshes int       `json:"credential_refreshes"`
}

// Targets is what GET /api/v1/targets returns.
type TargetList struct {
	Targets []TargetStatus `json:"targets"`
}

func (s *Server) targets(w http.ResponseWriter, r *http.Request) {
	out := TargetList{Targets: []TargetStatus{}}
	if s.TargetHealth != nil {
		out.Targets = append(out.Targets, s.TargetHealth()...)
	}
	writeJSON(w, http.StatusOK, out)
}

// TargetsCheck is the readiness of the targets together: ready while at least one target is not
// failing, since a failing target is isolated and the daemon still serves the others; its
// message names each failing target and why.
func TargetsCheck(ts []TargetStatus) ReadinessCheck {
	c := ReadinessCheck{Name: "targets"}
	var failing []string
	for _, t := range ts {
		if t.State == TargetFailing {
			failing = append(failing, fmt.Sprintf("%s/%s (%s: %s)", t.Account, t.Region, t.ErrorClass, t.LastError))
		}
	}
	c.OK = len(failing) < len(ts) || len(ts) == 0
	c.Message = fmt.Sprintf("%d of %d targets ok", len(ts)-len(failing), len(ts))
	if len(failing) > 0 {
		c.Message += "; failing: " + strings.Join(failing, "; ")
	}
	return c
}
