package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/cloud"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
)

// UserHeader names who asks, for a rollout's history (see api.UserHeader).
const UserHeader = api.UserHeader

// awsCheckTTL is how long /readyz reuses the answer of its AWS check, so that frequent probes
// do not each call STS.
const awsCheckTTL = 15 * time.Second

// handler serves the daemon's HTTP endpoints: the API (/api/, /healthz, /readyz) and the SNS
// endpoint when topics are configured. Other paths answer the mux's plain 404.
func (m *Main) handler() http.Handler {
	mux := http.NewServeMux()
	a := m.apiServer().Handler()
	mux.Handle("/api/", a)
	mux.Handle("/healthz", a)
	mux.Handle("/readyz", a)
	if m.Metrics != nil {
		mux.Handle("GET /metrics", m.Metrics.Handler())
	}
	if m.snsHandler != nil {
		mux.Handle(m.Config.WorkSpaces.SNS.Path, m.snsHandler)
	}
	// The dashboard has the rest: its pages, its static files and its 404.
	mux.Handle("/", m.dashboardHandler().Handler())
	if m.elector != nil {
		return m.followerGuard(mux)
	}
	return mux
}

// apiServer builds the API from what Open built: the store, the rollout controller and its
// AppStream and Application Auto Scaling adapters (nil when rollouts are off), the loops
// (read at each request: they are built after the server) and the AWS configuration.
func (m *Main) apiServer() *api.Server {
	s := &api.Server{
		Rollouts: m.Store,
		Resets:   m.Store,
		Store:    storePing{m.Store, m.now, m.leading},
		Loops:    m.loopStatuses,
		Leader:   m.leaderStatus,
		Token:    m.Config.Server.Token,
		Now:      m.now,
		// Read at each request, like Loops.
		TargetHealth:       m.targetStatuses,
		TargetsInReadiness: len(m.Config.Targets) > 0,
	}
	if m.Logger != nil {
		s.Logger = m.Logger.With("component", "api")
	}
	if m.Rollouts != nil { // not a typed nil in the interfaces
		s.Requests = targetRequests{m}
		if m.AppStream != nil {
			s.Planner = &dryRun{m: m}
		}
	}
	if m.AppStream != nil {
		s.Fleets = m.AppStream
	}
	for _, t := range m.targets {
		if t.appStream != nil {
			s.TargetFleets = append(s.TargetFleets, api.FleetSource{Account: t.Account, Region: t.Region, Fleets: t.appStream, Targets: t.scaler})
		}
	}
	if m.Scaler != nil {
		s.Targets = m.Scaler
	}
	if m.AWSConfig.Region != "" { // Open loaded it
		s.AWS = cachedCheck(awsCheckTTL, m.now, func(ctx context.Context) error {
			_, err := cloud.Account(ctx, m.AWSConfig)
			return err
		})
	}
	return s
}

// now is m.Now, or the wall clock before Open set it.
func (m *Main) now() time.Time {
	if m.Now == nil {
		return time.Now().UTC()
	}
	return m.Now()
}

// loopStatuses reports the daemon's loops for readiness: on a follower only the lease's, since
// the others do nothing there.
func (m *Main) loopStatuses() []api.LoopStatus {
	var out []api.LoopStatus
	perTarget := m.targetLoopNames()
	for _, p := range m.Passes() {
		if !m.leading() && p.Name != "ha" {
			continue
		}
		if perTarget[p.Name] {
			continue // judged with its target's, in the "targets" check
		}
		out = append(out, api.LoopStatus{Name: p.Name, LastOK: p.LastOK, LastError: p.LastError, Interval: p.Interval})
	}
	return out
}

// storePing checks the store can be written (Store.Ping takes the write lock, writes nothing);
// on a follower, whose writes are fenced off, that it can be read.
type storePing struct {
	st      *store.Store
	now     func() time.Time
	leading func() bool
}

func (p storePing) Ping(ctx context.Context) error {
	if p.st == nil {
		return errors.New("no store")
	}
	if p.leading != nil && !p.leading() {
		_, _, err := p.st.Leader(ctx, leaseName)
		return err
	}
	return p.st.Ping(ctx)
}

// cachedCheck returns check, its answer reused for ttl.
func cachedCheck(ttl time.Duration, now func() time.Time, check func(context.Context) error) func(context.Context) error {
	var (
		mu   sync.Mutex
		at   time.Time
		last error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && now().Sub(at) < ttl {
			return last
		}
		last = check(ctx)
		if ctx.Err() == nil { // an answer cut short by the request is not worth keeping
			at = now()
		}
		return last
	}
}

// dryRun answers POST /api/v1/plan: the request is turned into the image tags it stands for,
// and the controller decides on them as a scan would (Controller.DryRun), with nothing
// committed, tagged or sent.
type dryRun struct{ m *Main }

var _ api.Planner = (*dryRun)(nil)

func (d *dryRun) DryRun(ctx context.Context, req api.PlanRequest) (api.PlanResult, error) {
	m := d.m
	keys := rolloutConfig(m.Config, nil, nil).Keys
	res := api.PlanResult{Tags: planTags(req, keys)}
	appStream, ctl, scaler, account, region := m.AppStream, m.Rollouts, m.Scaler, m.Account, m.Region
	if len(m.targets) > 0 {
		account, region = m.targets[0].Account, m.targets[0].Region
	}
	if req.Account != "" || req.Region != "" {
		t := m.target(req.Account, req.Region)
		if t == nil || t.rollouts == nil {
			return res, api.Errorf(http.StatusNotFound, "account %q, region %q is not one of the daemon's targets (give both, or neither for the first)", req.Account, req.Region)
		}
		appStream, ctl, scaler, account, region = t.appStream, t.rollouts, t.scaler, t.Account, t.Region
	}
	res.Account, res.Region = account, region
	img, ok, err := appStream.ImageState(ctx, req.Image)
	if err != nil {
		return res, api.Errorf(http.StatusServiceUnavailable, "read image %q: %v", req.Image, err)
	}
	if !ok {
		return res, api.Errorf(http.StatusNotFound, "image %q does not exist (in %s)", req.Image, region)
	}
	res.Image = api.PlanImage{Name: img.Name, ARN: img.ARN, State: img.State}
	// 1. Decide as the scan does (the controller's own policy), committing nothing.
	dry, err := ctl.DryRun(ctx, img, res.Tags)
	if err != nil {
		return res, api.Errorf(http.StatusServiceUnavailable, "%v", err)
	}
	nr := dry.Rollout

	// 2. A refusal, with each of its reasons.
	if nr.State == rollout.Refused {
		res.Refused = true
		res.Reasons = dry.Reasons
		return res, nil
	}

	// 3. The plan: steps with their openings in UTC and in each fleet's zone, and whether the
	// fleet would drain as things are now.
	res.Start = utcPtr(nr.Start)
	names := make([]string, 0, len(nr.Steps))
	for _, s := range nr.Steps {
		names = append(names, s.Fleet)
	}
	var targets map[string]rollout.Target
	var scheduled map[string][]rollout.ScheduledAction
	if scaler != nil {
		targets, err = scaler.Targets(ctx, names)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("some scalable targets could not be read, so drain may be wrong for them: %v", err))
		}
		if scheduled, err = scaler.ScheduledActions(ctx, names); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("the fleets' scheduled actions could not be read, so none is shown: %v", err))
		}
	}
	for _, s := range nr.Steps {
		loc := dry.Zones[s.Fleet]
		if loc == nil {
			loc = time.UTC
		}
		_, hasTarget := targets[s.Fleet]
		mode := s.DrainMode
		changesCapacity := mode == rollout.DrainScaleToZero || mode == rollout.DrainDeadline || (mode == rollout.DrainSessions && dry.Fleets[s.Fleet].MaxSessions > 1)
		ps := api.PlanStep{
			Fleet: s.Fleet, Wave: max(1, s.Wave), WindowStart: s.WindowStart.UTC(), WindowEnd: s.WindowEnd.UTC(),
			Zone: loc.String(), WindowStartLocal: s.WindowStart.In(loc).Format(time.RFC3339), WindowEndLocal: s.WindowEnd.In(loc).Format(time.RFC3339),
			Drain:     changesCapacity && hasTarget && dry.Fleets[s.Fleet].State == "RUNNING",
			DrainMode: mode, WhatUsersSee: rollout.DrainMeaning(mode, m.Config.Rollouts.Drain.SessionDeadline.Duration),
			ScheduledInWindow: []string{},
		}
		if ps.Drain {
			ps.ScheduledInWindow = append(ps.ScheduledInWindow, rollout.ScheduledDuring(scheduled[s.Fleet], s.WindowStart, s.WindowEnd)...)
			for _, a := range ps.ScheduledInWindow {
				res.Notes = append(res.Notes, fmt.Sprintf("fleet %s: scheduled action %s, inside its window: it is suspended while the fleet drains and applied when its capacity is restored", s.Fleet, a))
			}
		}
		res.Steps = append(res.Steps, ps)
	}
	res.Waves = api.FromWaves(ctl.Plan(nr))

	// 4. What it would replace, and what else is worth knowing.
	superseded := map[int64]bool{}
	for _, s := range dry.Superseded {
		superseded[s.RolloutID] = true
	}
	for _, r := range dry.Active {
		if r.ImageARN != img.ARN {
			continue
		}
		switch r.State {
		case rollout.Pending:
			superseded[r.ID] = true
			res.Notes = append(res.Notes, fmt.Sprintf("image %s has pending rollout %d: changing its tags replans it (rollout %d is superseded)", img.Name, r.ID, r.ID))
		case rollout.Running:
			res.Notes = append(res.Notes, fmt.Sprintf("image %s has rollout %d running: it finishes as planned, and changed tags are planned once it has ended", img.Name, r.ID))
		}
	}
	for id := range superseded {
		res.Supersedes = append(res.Supersedes, id)
	}
	slices.Sort(res.Supersedes)
	if img.State != "AVAILABLE" {
		res.Notes = append(res.Notes, fmt.Sprintf("image %s is %s: each fleet waits at its window until the image is AVAILABLE", img.Name, img.State))
	}
	return res, nil
}

// planTags are the image tags a plan request stands for, with the daemon's tag keys.
func planTags(req api.PlanRequest, keys rollout.TagKeys) map[string]string {
	tags := map[string]string{keys.FleetName: req.Fleets}
	if req.ScaleImmediately {
		tags[keys.ScaleImmediately] = "True"
	}
	if req.Canary != "" {
		tags[keys.Canary] = req.Canary
	}
	if req.Waves > 0 {
		tags[keys.Waves] = strconv.Itoa(req.Waves)
	}
	if req.Approval != "" {
		tags[keys.Approval] = req.Approval
	}
	if req.DrainMode != "" {
		tags[keys.Drain] = req.DrainMode
	}
	return tags
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
