package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/cloud"
	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/metrics"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
	"github.com/deskpilot/deskpilot/internal/tagevent"
)

// target is one AWS account and region the daemon serves. Each has its own AWS clients (signed
// for its region, with its own credentials), its own controllers and its own loops, and sees
// only its own rollouts and saved capacity: an outage, a region an SCP denies or credentials
// that expired stop that target's loops and no other's.
type target struct {
	Account, Region string
	// role is the assumed role's credentials; nil when the daemon's own credentials are used.
	role *cloud.RoleCredentials
	// roleARN is the role assumed ("" for the daemon's own credentials).
	roleARN string
	awsCfg  aws.Config
	metrics *metrics.Target

	appStream *cloud.AppStream
	scaler    *cloud.Scaler
	rollouts  *rollout.Controller
	resets    *reset.Controller
	events    *tagevent.Listener
	// queue is rollouts.events.queue when this target has one; openQueue opens it (again)
	// when it could not be opened at startup.
	queue string

	scanLoop, eventsLoop, rolloutLoop, resetLoop *component
}

// key is the target's "account/region".
func (t *target) key() string { return t.Account + "/" + t.Region }

// loops are the target's loops that exist.
func (t *target) loops() []*component {
	var out []*component
	for _, c := range []*component{t.scanLoop, t.eventsLoop, t.rolloutLoop, t.resetLoop} {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// targetSpecs returns the (account, region, role) the daemon serves: the configured targets,
// or, without any, one of the daemon's own account in aws.region.
func targetSpecs(cfg config.Config, account, region string) []targetSpec {
	if len(cfg.Targets) == 0 {
		return []targetSpec{{Account: account, Region: region}}
	}
	var out []targetSpec
	for _, t := range cfg.Targets {
		for _, r := range t.Regions {
			out = append(out, targetSpec{Account: t.Account, Region: r, Role: cloud.Role{ARN: t.RoleARN, ExternalID: t.ExternalID, SessionName: t.Session()}})
		}
	}
	return out
}

type targetSpec struct {
	Account, Region string
	Role            cloud.Role
}

// openTargets builds every target's clients and controllers. Nothing here calls AWS for a
// target (a target that cannot be reached must not keep the others from starting), except
// opening the tag-event queue of a daemon without targets, which fails fast as it always did.
func (m *Main) openTargets(ctx context.Context, base aws.Config, senders []string) error {
	cfg := m.Config
	multi := len(cfg.Targets) > 0
	// queueClaimed: a queue URL is one queue, listened to by one target.
	queueClaimed := false
	for i, spec := range targetSpecs(cfg, m.Account, m.Region) {
		if spec.Role.ARN == "" && spec.Account != m.Account {
			return fmt.Errorf("targets: account %s has no role_arn, and deskpilot's own credentials are of account %s: set role_arn to a role deskpilot may assume", spec.Account, m.Account)
		}
		t := &target{Account: spec.Account, Region: spec.Region, roleARN: spec.Role.ARN, metrics: m.Metrics.Target(spec.Account, spec.Region)}
		t.awsCfg = base.Copy()
		t.awsCfg.Region = spec.Region
		t.awsCfg.APIOptions = append(slices.Clone(base.APIOptions), m.Metrics.AWSMiddleware(spec.Account))
		if spec.Role.ARN != "" {
			// The role is assumed with the daemon's own credentials, through STS in aws.region
			// (STS is never the region an SCP denies).
			stsCfg := base.Copy()
			stsCfg.APIOptions = append(slices.Clone(base.APIOptions), m.Metrics.AWSMiddleware(""))
			t.role = cloud.NewRoleCredentials(sts.NewFromConfig(stsCfg), spec.Role, m.Now)
			t.awsCfg.Credentials = t.role
			t.awsCfg.APIOptions = append(t.awsCfg.APIOptions, cloud.InvalidateOnExpiry(t.role))
		}
		log := m.Logger
		if multi {
			log = log.With("account", t.Account, "region", t.Region)
		}
		if cfg.Rollouts.Enabled {
			rc := rolloutConfig(cfg, senders, m.HTTPClient)
			rc.Account, rc.Region, rc.Observer, rc.TargetInSubject = t.Account, t.Region, t.metrics, multi
			t.appStream = cloud.NewAppStream(appstream.NewFromConfig(t.awsCfg))
			t.scaler = cloud.NewScaler(applicationautoscaling.NewFromConfig(t.awsCfg))
			t.queue = queueFor(cfg.Rollouts.Events.Queue, t.Account, t.Region, queueClaimed)
			if t.queue != "" && strings.Contains(t.queue, "://") {
				queueClaimed = true
			}
			if t.queue != "" {
				// While events arrive, the full scan is the safety net for a lost one.
				rc.ScanInterval = cfg.Rollouts.Events.ResyncInterval.Duration
			}
			t.rollouts = rollout.New(rc, t.appStream, t.scaler, scopedRollouts{m.Store, t.Account, t.Region, t.Account == m.Account && t.Region == m.Region}, m.Now, log.With("component", "rollouts"))
			// A single daemon's queue is opened now, so that a missing one stops the start as it
			// always did; with targets, each target's events loop opens its own, so that one
			// unreachable target cannot hold up the start of the others.
			if t.queue != "" && !multi {
				if err := m.openQueue(ctx, t); err != nil {
					return fmt.Errorf("rollouts.events.queue: %w", err)
				}
			}
		}
		if cfg.WorkSpaces.Reset.Enabled {
			resetCfg := resetConfig(cfg, senders)
			resetCfg.Account, resetCfg.Region, resetCfg.TargetInSubject = t.Account, t.Region, multi
			resetCfg.OnOutcome = t.metrics.ResetOutcome
			t.resets = reset.New(resetCfg, cloud.NewWorkSpaces(workspaces.NewFromConfig(t.awsCfg)), m.Store.Resets(t.Account, t.Region), m.Now, log.With("component", "resets"))
		}
		m.targets = append(m.targets, t)
		if i == 0 {
			// The first target is the one the API's fleet listing and dry runs read by default.
			m.AppStream, m.Scaler, m.Rollouts, m.Resets = t.appStream, t.scaler, t.rollouts, t.resets
		}
	}
	// A queue URL that no target takes would leave tags to the resync scans without a word.
	if q := cfg.Rollouts.Events.Queue; cfg.Rollouts.Enabled && strings.Contains(q, "://") && !queueClaimed {
		account, region, _ := cloud.QueueURLParts(q)
		return fmt.Errorf("rollouts.events.queue: %s is a queue of account %s in %s, and deskpilot serves %s: give the queue by name to listen in every target, or the URL of a target's queue",
			q, account, region, strings.Join(m.targetNames(), ", "))
	}
	return nil
}

// targetNames are the targets' "account/region".
func (m *Main) targetNames() []string {
	out := make([]string, 0, len(m.targets))
	for _, t := range m.targets {
		out = append(out, t.key())
	}
	return out
}

// queueFor returns the tag-event queue a target listens to: a queue name is looked up in every
// target's account and region; a queue URL belongs to the one target whose account and region
// it names, or, when its host names no region (an emulator's), to the first target of its
// account; the others ("" for them) rely on their scans. claimed says an earlier target took
// the URL.
func queueFor(queue, account, region string, claimed bool) string {
	if queue == "" || !strings.Contains(queue, "://") {
		return queue
	}
	if claimed {
		return ""
	}
	qAccount, qRegion, ok := cloud.QueueURLParts(queue)
	if !ok || (qAccount == account && (qRegion == region || qRegion == "")) {
		return queue
	}
	return ""
}

// openQueue opens the target's tag-event queue and builds its listener.
func (m *Main) openQueue(ctx context.Context, t *target) error {
	queue, err := cloud.OpenQueue(ctx, sqs.NewFromConfig(t.awsCfg), t.queue)
	if err != nil {
		return err
	}
	t.events = &tagevent.Listener{
		Queue: queue, Images: t.rollouts, Seen: seenEvents{m.Store}, Account: t.Account, Region: t.Region,
		Keys: imageTagKeys(m.Config), Observer: t.metrics, Now: m.Now,
		Log: m.Logger.With("component", "events", "queue", queue.URL(), "account", t.Account, "region", t.Region),
	}
	return nil
}

// targetKeys are the (account, region) of every target.
func (m *Main) targetKeys() [][2]string {
	out := make([][2]string, 0, len(m.targets))
	for _, t := range m.targets {
		out = append(out, [2]string{t.Account, t.Region})
	}
	return out
}

// target returns the target of account and region, or nil.
func (m *Main) target(account, region string) *target {
	for _, t := range m.targets {
		if t.Account == account && t.Region == region {
			return t
		}
	}
	return nil
}

// loopName is a target's loop's name: the plain name with one target (as before targets
// existed), "NAME ACCOUNT/REGION" with several.
func (m *Main) loopName(t *target, name string) string {
	if len(m.Config.Targets) == 0 {
		return name
	}
	return name + " " + t.key()
}

// scopedRollouts is the store as one target's rollout controller sees it: only the rollouts of
// its account and region. Writes go through unchanged (each carries its account and region).
type scopedRollouts struct {
	st              *store.Store
	account, region string
	// adopts: this target is the daemon's own account and region, which Store.Adopt gives the
	// rows written before rows had an account and region; it also owns any such row.
	adopts bool
}

func (s scopedRollouts) mine(r rollout.Rollout) bool {
	if r.Account == "" && r.Region == "" {
		return s.adopts
	}
	return r.Account == s.account && r.Region == s.region
}

func (s scopedRollouts) Apply(ctx context.Context, c *rollout.Change) error {
	return s.st.Apply(ctx, c)
}

func (s scopedRollouts) ActiveRollouts(ctx context.Context) ([]rollout.Rollout, error) {
	all, err := s.st.ActiveRollouts(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r rollout.Rollout) bool { return !s.mine(r) }), nil
}

func (s scopedRollouts) Rollout(ctx context.Context, id int64) (rollout.Rollout, bool, error) {
	r, ok, err := s.st.Rollout(ctx, id)
	if err != nil || !ok || !s.mine(r) {
		return rollout.Rollout{}, false, err
	}
	return r, true, nil
}

func (s scopedRollouts) LatestRollouts(ctx context.Context) (map[string]rollout.Rollout, error) {
	all, err := s.st.LatestRollouts(ctx)
	if err != nil {
		return nil, err
	}
	for arn, r := range all {
		if !s.mine(r) {
			delete(all, arn)
		}
	}
	return all, nil
}

func (s scopedRollouts) SavedFor(ctx context.Context, account, region string, fleets []string) (map[string]rollout.SavedCapacity, error) {
	return s.st.SavedFor(ctx, account, region, fleets)
}

var _ rollout.Store = scopedRollouts{}

// targetRequests sends a person's request about a rollout to the controller of the rollout's
// account and region.
type targetRequests struct{ m *Main }

func (r targetRequests) Request(ctx context.Context, id int64, kind rollout.RequestKind, by string) (rollout.Rollout, error) {
	ro, ok, err := r.m.Store.Rollout(ctx, id)
	if err != nil {
		return rollout.Rollout{}, err
	}
	if !ok {
		return rollout.Rollout{}, fmt.Errorf("rollout %d: %w", id, rollout.ErrNoRollout)
	}
	if len(r.m.targets) == 0 { // a Main built by hand, with one controller
		return r.m.Rollouts.Request(ctx, id, kind, by)
	}
	account, region := ro.Account, ro.Region
	if account == "" && region == "" { // a row from before accounts (Store.Adopt's)
		account, region = r.m.Account, r.m.Region
	}
	t := r.m.target(account, region)
	if t == nil || t.rollouts == nil {
		return rollout.Rollout{}, fmt.Errorf("rollout %d is in account %s, region %s, which this daemon no longer serves (targets): %w", id, ro.Account, ro.Region, rollout.ErrConflict)
	}
	return t.rollouts.Request(ctx, id, kind, by)
}

func (r targetRequests) Plan(ro rollout.Rollout) []rollout.WavePlan {
	if t := r.m.target(ro.Account, ro.Region); t != nil && t.rollouts != nil {
		return t.rollouts.Plan(ro)
	}
	return r.m.Rollouts.Plan(ro)
}

var _ api.Requester = targetRequests{}

// targetStatuses reports each target's health.
func (m *Main) targetStatuses() []api.TargetStatus {
	out := make([]api.TargetStatus, 0, len(m.targets))
	for _, t := range m.targets {
		out = append(out, t.status())
	}
	return out
}

// status is the target's health from its loops' latest passes: healthy when none failed its
// latest pass. The error shown is the latest failing loop's.
func (t *target) status() api.TargetStatus {
	st := api.TargetStatus{Account: t.Account, Region: t.Region, RoleARN: t.roleARN, Healthy: true, State: api.TargetOK}
	started := false
	for _, c := range t.loops() {
		s := c.status()
		if s.LastOK.After(st.LastOK) {
			st.LastOK = s.LastOK
		}
		if !s.LastOK.IsZero() || s.LastError != "" {
			started = true
		}
		if s.LastError != "" {
			st.Healthy, st.State = false, api.TargetFailing
			st.FailingLoops = append(st.FailingLoops, s.Name)
			if st.LastError == "" || s.ErrorAt.After(st.ErrorAt) {
				st.LastError, st.ErrorClass, st.ErrorAt = s.LastError, s.ErrorClass, s.ErrorAt
			}
		}
	}
	if !started {
		st.State = api.TargetStarting
	}
	if t.role != nil {
		st.CredentialsExpire = t.role.Expires()
		st.CredentialRefreshes = t.role.Refreshes()
	}
	return st
}

// targetLoopNames names the targets' loops, which readiness reports per target rather than
// one by one when there are several targets; nil with a single target.
func (m *Main) targetLoopNames() map[string]bool {
	if len(m.Config.Targets) == 0 {
		return nil
	}
	names := map[string]bool{}
	for _, t := range m.targets {
		for _, c := range t.loops() {
			names[c.name] = true
		}
	}
	return names
}

// eventsPass is one long poll of a target's queue, opening the queue first when it could not
// be opened at startup.
func (m *Main) eventsPass(t *target, wait time.Duration) func(context.Context) (time.Time, error) {
	return func(ctx context.Context) (time.Time, error) {
		if t.events == nil {
			if err := m.openQueue(ctx, t); err != nil {
				return m.Now().Add(cloud.LongPoll), fmt.Errorf("open tag-event queue %s: %w", t.queue, err)
			}
		}
		next := m.Now()
		if wait == 0 {
			next = next.Add(cloud.LongPoll)
		}
		return next, t.events.Pass(ctx, wait)
	}
}
