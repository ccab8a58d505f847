package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deskpilot/deskpilot/internal/window"
)

var (
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	fleetNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`)
	// tagKeyRE is AWS's pattern for tag keys, without its look-ahead for
	// "aws:", which tagKey checks.
	tagKeyRE    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	directoryRE = regexp.MustCompile(`^(d-[0-9a-f]{8,63}|wsd-[0-9a-z]{8,63})$`)
	bundleRE    = regexp.MustCompile(`^wsb-[0-9a-z]{8,63}$`)
	topicARNRE  = regexp.MustCompile(`^arn:aws(-[a-z]+)*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
)

// sampleFrom is where Validate starts looking at a window's openings to
// measure its ranges. Any instant will do; a fixed one keeps Validate pure.
var sampleFrom = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Validate reports every problem in c at once, joined with errors.Join, each
// error starting with the key path it is about, such as
// "rollouts.max_parallel: must be from 1 to 1000, got 0". It returns nil if c
// is usable.
func (c Config) Validate() error {
	var p problems
	c.AWS.validate(&p)
	validateTargets(&p, c.Targets)
	if c.Store.Path == "" && c.Store.Postgres.URL == "" {
		p.add("store.path", "required (or store.postgres.url)")
	}
	// The URL is not repeated: it may hold a password.
	if u := c.Store.Postgres.URL; u != "" && !postgresURL(u) {
		p.add("store.postgres.url", "not a postgres:// or postgresql:// URL with a host, such as postgres://deskpilot@db.internal:5432/deskpilot")
	}
	if c.HA.Takeover.Duration < MinHATakeover {
		p.add("ha.takeover", "must be at least %s, got %s", Duration{MinHATakeover}, c.HA.Takeover)
	}
	if a := c.Server.Addr; a != "" && !hostPort(a) {
		p.add("server.addr", "%q is not host:port, such as 127.0.0.1:8080 (empty turns the server off)", a)
	}
	// The token is not repeated: it is a secret.
	if t := c.Server.Token; t != "" && !validToken(t) {
		p.add("server.token", "%s", badToken)
	}
	c.Rollouts.validate(&p)
	c.Notify.validate(&p)
	c.WorkSpaces.validate(&p, c.Server)
	return errors.Join(p...)
}

// sqsQueueNameRE is SQS's rule for a standard queue's name.
var sqsQueueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func (e Events) validate(p *problems) {
	if e.ResyncInterval.Duration < MinScanInterval {
		p.add("rollouts.events.resync_interval", "must be at least %s, got %s", Duration{MinScanInterval}, e.ResyncInterval)
	}
	q := e.Queue
	switch {
	case q == "":
	case strings.HasSuffix(q, ".fifo"):
		p.add("rollouts.events.queue", "%q is a FIFO queue; the EventBridge rule delivers to a standard queue (deskpilot bootstrap creates one)", q)
	case strings.Contains(q, "://"):
		u, err := url.Parse(q)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !sqsQueueNameRE.MatchString(path.Base(u.Path)) || strings.Count(strings.Trim(u.Path, "/"), "/") != 1 {
			p.add("rollouts.events.queue", "%q is not a queue URL such as https://sqs.eu-central-1.amazonaws.com/111111111111/deskpilot-events", q)
		}
	case !sqsQueueNameRE.MatchString(q):
		p.add("rollouts.events.queue", "%q is neither a queue URL nor a queue name (1 to 80 letters, digits, '-' or '_')", q)
	}
}

// postgresURL reports whether u is a PostgreSQL connection URL with a host.
func postgresURL(u string) bool {
	x, err := url.Parse(u)
	return err == nil && (x.Scheme == "postgres" || x.Scheme == "postgresql") && x.Host != ""
}

// problems collects the errors Validate finds.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, errors.New(path+": "+fmt.Sprintf(format, args...)))
}

func (a AWS) validate(p *problems) {
	if a.Region != "" && !regionRE.MatchString(a.Region) {
		p.add("aws.region", "%q is not an AWS region name such as us-east-1", a.Region)
	}
	if a.Endpoint != "" && !httpURL(a.Endpoint) {
		p.add("aws.endpoint", "%q is not an absolute http or https URL", a.Endpoint)
	}
}

var (
	accountRE = regexp.MustCompile(`^\d{12}$`)
	// roleARNRE is an IAM role ARN; its group is the account.
	roleARNRE     = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// validateTargets checks each target and that no account and region is served twice.
func validateTargets(p *problems, targets []Target) {
	seen := map[string]string{}
	for i, t := range targets {
		path := fmt.Sprintf("targets[%d]", i)
		if !accountRE.MatchString(t.Account) {
			p.add(path+".account", "%q is not a 12-digit AWS account id (quote it in YAML, so that leading zeros stay)", t.Account)
		}
		if t.RoleARN != "" {
			m := roleARNRE.FindStringSubmatch(t.RoleARN)
			switch {
			case m == nil:
				p.add(path+".role_arn", "%q is not an IAM role ARN such as arn:aws:iam::111111111111:role/deskpilot", t.RoleARN)
			case m[1] != t.Account:
				p.add(path+".role_arn", "the role is in account %s, not in the target's account %s", m[1], t.Account)
			}
		}
		if id := t.ExternalID; id != "" && (len(id) < 2 || len(id) > 1224 || !externalIDRE.MatchString(id)) {
			p.add(path+".external_id", "must be 2 to 1224 letters, digits or + = , . @ : / - _")
		}
		if t.SessionName != "" && !sessionNameRE.MatchString(t.SessionName) {
			p.add(path+".session_name", "%q must be 2 to 64 letters, digits or + = , . @ - _", t.SessionName)
		}
		if t.ExternalID != "" && t.RoleARN == "" {
			p.add(path+".external_id", "set without role_arn: an external id is only passed to AssumeRole")
		}
		if len(t.Regions) == 0 {
			p.add(path+".regions", "required: at least one region of the account, such as [eu-central-1]")
		}
		for j, r := range t.Regions {
			rp := fmt.Sprintf("%s.regions[%d]", path, j)
			if !regionRE.MatchString(r) {
				p.add(rp, "%q is not an AWS region name such as us-east-1", r)
				continue
			}
			key := t.Account + "/" + r
			if prev, dup := seen[key]; dup {
				p.add(rp, "account %s, region %s is already served by %s", t.Account, r, prev)
				continue
			}
			seen[key] = rp
		}
	}
}

func (r Rollouts) validate(p *problems) {
	// 1. Windows, each long enough for the start margin.
	margin := r.StartMargin.Duration
	checkWindow := func(path string, w Window) {
		if w.IsZero() {
			p.add(path, "empty; want a window such as %q", DefaultWindow+" Europe/Berlin")
			return
		}
		if l := longestRange(w.Window, sampleFrom); margin > 0 && margin >= l {
			p.add(path, "rollouts.start_margin (%s) must be shorter than the longest range of the window (%s), or no rollout could start in it",
				r.StartMargin, Duration{l})
		}
	}
	checkWindow("rollouts.window", r.Window)
	for _, name := range slices.Sorted(maps.Keys(r.FleetWindows)) {
		if !fleetNameRE.MatchString(name) {
			p.add("rollouts.fleet_windows", "%q is not a fleet name (a letter or digit, then up to 100 letters, digits, '_', '.' or '-')", name)
			continue
		}
		checkWindow("rollouts.fleet_windows."+name, r.FleetWindows[name])
	}

	// 2. Intervals and limits.
	if r.ScanInterval.Duration < MinScanInterval {
		p.add("rollouts.scan_interval", "must be at least %s, got %s", Duration{MinScanInterval}, r.ScanInterval)
	}
	positive(p, "rollouts.poll_interval", r.PollInterval)
	positive(p, "rollouts.drain_poll_interval", r.DrainPollInterval)
	positive(p, "rollouts.drain_timeout", r.DrainTimeout)
	positive(p, "rollouts.start_margin", r.StartMargin)
	between(p, "rollouts.max_parallel", r.MaxParallel, 1, MaxParallel)
	r.Drain.validate(p)
	r.Events.validate(p)

	// 3. Progressive rollouts.
	if r.Waves.Size < 0 {
		p.add("rollouts.waves.size", "must be 0 (all remaining fleets in one wave) or more, got %d", r.Waves.Size)
	}
	notNegative(p, "rollouts.waves.canary_bake", r.Waves.CanaryBake)
	notNegative(p, "rollouts.waves.bake", r.Waves.Bake)
	positive(p, "rollouts.health.timeout", r.Health.Timeout)
	// The URL is not repeated: it may hold a token.
	if u := r.Health.CheckURL; u != "" && !httpURL(u) {
		p.add("rollouts.health.check_url", "not an absolute http or https URL")
	}
	if r.Rollback != RollbackFailedWave && r.Rollback != RollbackOff {
		p.add("rollouts.rollback", "%q is not %q or %q", r.Rollback, RollbackFailedWave, RollbackOff)
	}

	// 4. Tag keys: valid, and distinct because each means something else.
	tags := []struct{ name, key string }{
		{"fleet_name", r.Tags.FleetName},
		{"scale_immediately", r.Tags.ScaleImmediately},
		{"status", r.Tags.Status},
		{"maintenance_window", r.Tags.MaintenanceWindow},
		{"saved_min", r.Tags.SavedMin},
		{"saved_max", r.Tags.SavedMax},
		{"canary", r.Tags.Canary},
		{"waves", r.Tags.Waves},
		{"approval", r.Tags.Approval},
		{"approve", r.Tags.Approve}, {"drain", r.Tags.Drain},
	}
	for i, t := range tags {
		path := "rollouts.tags." + t.name
		if !tagKey(p, path, t.key, 128) {
			continue
		}
		if j := slices.IndexFunc(tags[:i], func(u struct{ name, key string }) bool { return u.key == t.key }); j >= 0 {
			p.add(path, "%q is also rollouts.tags.%s; every tag key must differ", t.key, tags[j].name)
		}
	}
}

func (d Drain) validate(p *problems) {
	switch d.Mode {
	case DrainNone, DrainScaleToZero, DrainSessions, DrainDeadline:
	default:
		p.add("rollouts.drain.mode", "%q is not %q, %q, %q or %q", d.Mode, DrainNone, DrainScaleToZero, DrainSessions, DrainDeadline)
	}
	// Both durations are checked in every mode, so that switching to deadline mode later
	// cannot reveal an old mistake.
	if sd := d.SessionDeadline; sd.Duration <= 0 || sd.Duration > MaxDrainSessionDeadline {
		p.add("rollouts.drain.session_deadline", "must be positive and at most %s, got %s", Duration{MaxDrainSessionDeadline}, sd)
	}
	switch w := d.Warning; {
	case w.Duration < 0:
		p.add("rollouts.drain.warning", "must not be negative, got %s", w)
	case d.SessionDeadline.Duration > 0 && w.Duration >= d.SessionDeadline.Duration:
		p.add("rollouts.drain.warning", "must be shorter than rollouts.drain.session_deadline (%s), got %s", d.SessionDeadline, w)
	}
}

func (n Notify) validate(p *problems) {
	e := n.Email
	switch {
	case e.From != "":
		if !bareAddress(e.From) {
			p.add("notify.email.from", "%q is not a bare email address such as deskpilot@example.com", e.From)
		}
	case len(e.To) > 0:
		p.add("notify.email.from", "required when notify.email.to is set")
	}
	for i, to := range e.To {
		if !bareAddress(to) {
			p.add(fmt.Sprintf("notify.email.to[%d]", i), "%q is not a bare email address such as admins@example.com", to)
		}
	}
	if e.Via != ViaSES && e.Via != ViaSMTP {
		p.add("notify.email.via", "%q is not %q or %q", e.Via, ViaSES, ViaSMTP)
	}
	if e.Via == ViaSMTP && e.SMTP.Host == "" {
		p.add("notify.email.smtp.host", "required when notify.email.via is %q", ViaSMTP)
	}
	between(p, "notify.email.smtp.port", e.SMTP.Port, 1, 65535)
	if t := e.SMTP.TLS; t != TLSNone && t != TLSStartTLS && t != TLSImplicit {
		p.add("notify.email.smtp.tls", "%q is not %q, %q or %q", t, TLSNone, TLSStartTLS, TLSImplicit)
	}
	envName(p, "notify.email.smtp.password_env", e.SMTP.PasswordEnv)

	for i, w := range n.Webhooks {
		path := fmt.Sprintf("notify.webhooks[%d]", i)
		// The URL is not repeated: it often holds a token.
		switch {
		case w.URL == "":
			p.add(path+".url", "required")
		case !httpURL(w.URL):
			p.add(path, "not an absolute http or https URL")
		}
		if f := w.Format; f != "" && f != WebhookJSON && f != WebhookSlack && f != WebhookTeams {
			p.add(path+".format", "%q is not %q, %q or %q", f, WebhookJSON, WebhookSlack, WebhookTeams)
		}
	}
	envName(p, "notify.webhook_secret_env", n.WebhookSecretEnv)
}

func (w WorkSpaces) validate(p *problems, server Server) {
	r := w.Reset
	tagKey(p, "workspaces.reset.tag", r.Tag, 127)
	for i, d := range r.Selectors.Directories {
		if !directoryRE.MatchString(d) {
			p.add(fmt.Sprintf("workspaces.reset.selectors.directories[%d]", i), "%q is not a directory ID such as d-1234567890", d)
		}
	}
	for i, b := range r.Selectors.Bundles {
		if !bundleRE.MatchString(b) {
			p.add(fmt.Sprintf("workspaces.reset.selectors.bundles[%d]", i), "%q is not a bundle ID such as wsb-abcd12345", b)
		}
	}
	for i, u := range r.Selectors.Users {
		if n := utf8.RuneCountInString(u); n < 1 || n > 63 {
			p.add(fmt.Sprintf("workspaces.reset.selectors.users[%d]", i), "%q is not a user name (1 to 63 characters)", u)
		}
	}
	positive(p, "workspaces.reset.grace", r.Grace)
	positive(p, "workspaces.reset.poll_interval", r.PollInterval)
	between(p, "workspaces.reset.max_concurrent", r.MaxConcurrent, 1, MaxParallel)
	between(p, "workspaces.reset.max_per_minute", r.MaxPerMinute, 1, 1000)
	positive(p, "workspaces.reset.inventory_interval", r.InventoryInterval)
	positive(p, "workspaces.reset.digest_interval", r.DigestInterval)
	if m := r.MaxSnapshotWait; m.Duration <= 0 || m.Duration > MaxSnapshotWait {
		p.add("workspaces.reset.max_snapshot_wait", "must be positive and at most %s, got %s", Duration{MaxSnapshotWait}, m)
	}
	if r.Mode != "rebuild" && r.Mode != "restore" {
		p.add("workspaces.reset.mode", "%q is not rebuild or restore", r.Mode)
	}
	for i, u := range r.Selectors.Users {
		if _, err := path.Match(u, ""); err != nil {
			p.add(fmt.Sprintf("workspaces.reset.selectors.users[%d]", i), "%q is not a valid pattern: %v", u, err)
		}
	}
	for i, u := range w.SNS.TrustedCertURLs {
		if !httpURL(u) || !strings.HasSuffix(u, ".pem") {
			p.add(fmt.Sprintf("workspaces.sns.trusted_cert_urls[%d]", i), "%q is not an http(s) URL of a .pem file", u)
		}
	}

	if !strings.HasPrefix(w.SNS.Path, "/") {
		p.add("workspaces.sns.path", "%q does not start with \"/\"", w.SNS.Path)
	}
	for i, t := range w.SNS.Topics {
		if !topicARNRE.MatchString(t) {
			p.add(fmt.Sprintf("workspaces.sns.topics[%d]", i), "%q is not an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:desk-alarms", t)
		}
	}
	if len(w.SNS.Topics) > 0 && server.Addr == "" {
		p.add("workspaces.sns.topics", "set, but server.addr is empty, so no notification can arrive")
	}
}

func positive(p *problems, path string, d Duration) {
	if d.Duration <= 0 {
		p.add(path, "must be positive, got %s", d)
	}
}

func notNegative(p *problems, path string, d Duration) {
	if d.Duration < 0 {
		p.add(path, "must not be negative, got %s", d)
	}
}

func between(p *problems, path string, v, lo, hi int) {
	if v < lo || v > hi {
		p.add(path, "must be from %d to %d, got %d", lo, hi, v)
	}
}

// tagKey checks an AWS tag key of at most max characters and reports
// whether it is valid.
func tagKey(p *problems, path, key string, max int) bool {
	switch {
	case key == "":
		p.add(path, "empty")
	case utf8.RuneCountInString(key) > max:
		p.add(path, "%q is longer than %d characters", key, max)
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		p.add(path, "%q starts with \"aws:\", which AWS reserves", key)
	case !tagKeyRE.MatchString(key):
		p.add(path, "%q is not a tag key (letters, digits, spaces and _ . : / = + - @)", key)
	default:
		return true
	}
	return false
}

func envName(p *problems, path, name string) {
	if name != "" && !envNameRE.MatchString(name) {
		p.add(path, "%q is not the name of an environment variable (write the name, without $)", name)
	}
}

// badToken says what a bearer token may hold.
const badToken = "must be visible ASCII characters without spaces (it is sent as Authorization: Bearer <token>)"

// validToken reports whether s can be sent as a bearer token as it is.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// bareAddress reports whether s is an email address alone, without a display
// name or angle brackets.
func bareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// longestRange returns the length of w's longest range as written, by
// walking w's openings in the three weeks from from. An opening on a
// daylight-saving day differs from its range in real time or on the wall
// clock (when it ends in the skipped hour, its end reads later), but not in
// both; so the shorter of the two measures never exceeds the range, and
// equals it in the weeks without a change.
func longestRange(w window.Window, from time.Time) time.Duration {
	const weeks = 3
	wall := func(t time.Time) time.Time {
		t = t.In(w.Location())
		y, m, d := t.Date()
		hh, mm, ss := t.Clock()
		return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
	}
	until := from.AddDate(0, 0, 7*weeks)
	var longest time.Duration
	for s, e := w.Next(from); !s.IsZero() && s.Before(until); s, e = w.Next(e) {
		longest = max(longest, min(e.Sub(s), wall(e).Sub(wall(s))))
	}
	return longest
}
