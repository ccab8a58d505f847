package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/deskpilot/deskpilot/internal/cloud"
	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/dashboard"
	"github.com/deskpilot/deskpilot/internal/fault"
	"github.com/deskpilot/deskpilot/internal/ha"
	"github.com/deskpilot/deskpilot/internal/metrics"
	"github.com/deskpilot/deskpilot/internal/notify"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/sns"
	"github.com/deskpilot/deskpilot/internal/store"
	"github.com/deskpilot/deskpilot/internal/window"
)

// FlushInterval is how often the outbox is looked at when no pass woke it.
const FlushInterval = 5 * time.Second

// PruneInterval is how often housekeeping drops SNS message ids too old to be replayed.
const PruneInterval = time.Hour

// Main is the deskpilot daemon: everything `deskpilot serve` runs, built from a Config. The
// end-to-end tests build it the same way, with a fake clock and the emulator's endpoint.
type Main struct {
	// Config is the validated configuration.
	Config config.Config
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
	// Logger receives the daemon's logs; nil discards them.
	Logger *slog.Logger
	// AWSOptions are extra options for the AWS SDK configuration (tests add static
	// credentials and retry settings here).
	AWSOptions []func(*awsconfig.LoadOptions) error
	// HTTPClient is used by webhook senders and by the health check of
	// rollouts.health.check_url; nil means a client with a 10 s timeout for webhooks and
	// http.DefaultClient for the check (each check is bounded by HealthCheckTimeout).
	HTTPClient *http.Client

	// Version is the daemon's version, for the startup summary.
	Version string
	// Dashboard are the dashboard's options (tests refresh it faster); DemoToken and Logger
	// are filled in when left empty.
	Dashboard dashboard.Options
	// DemoToken is the API token the dashboard may embed in its pages: set only by the demo,
	// whose token protects nothing.
	DemoToken string
	// WaitForAWS makes Open wait, retrying, until AWS answers sts:GetCallerIdentity, instead
	// of failing at once when the credentials are missing or denied (serve --wait-for-aws).
	WaitForAWS bool

	// Account and Region are where the daemon's AWS calls go (from STS and the SDK's
	// configuration), known after Open.
	Account, Region string
	// AppStream and Scaler are the adapters the rollout controller uses (nil when rollouts
	// are off), also for the API's fleet listing.
	AppStream rollout.AppStream
	Scaler    rollout.Scaler
	// AWSConfig is the SDK configuration every client is built from.
	AWSConfig aws.Config

	Store      *store.Store
	Metrics    *metrics.Metrics
	Rollouts   *rollout.Controller
	Dispatcher *notify.Dispatcher
	// Resets is nil unless workspaces.reset.enabled.
	Resets *reset.Controller

	// snsHandler receives SNS alarm notifications (nil unless topics are configured).
	snsHandler http.Handler

	serving bool

	// lastPrune is when old SNS message ids were last dropped from the store.
	lastPrune time.Time

	// elector takes and keeps the leader lease when the store is PostgreSQL (several replicas);
	// nil with SQLite, whose file lock already makes this the only daemon.
	elector *ha.Elector

	// targets are the accounts and regions served, each with its own clients, controllers and
	// loops (targets.go); the first one's are also AppStream, Scaler, Rollouts, Resets.
	targets []*target

	// The daemon's own loops: the lease, the outbox, housekeeping (see loops.go).
	haLoop, outboxLoop, housekeepingLoop *component

	listener net.Listener
	server   *http.Server
}

// Open builds everything: the store (migrated), the AWS clients, the senders, the controller
// and the HTTP server's listener.
func (m *Main) Open(ctx context.Context) error {
	if m.Now == nil {
		m.Now = func() time.Time { return time.Now().UTC() }
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := m.Config
	var st *store.Store
	var err error
	if url := cfg.Store.Postgres.URL; url != "" {
		st, err = store.OpenPostgres(ctx, url, store.Options{Now: m.Now})
	} else {
		st, err = store.Open(ctx, cfg.Store.Path, store.Options{Now: m.Now})
	}
	if err != nil {
		return err
	}
	m.Store = st
	m.Metrics = metrics.New(metricsSource{st: st, targets: m.targetKeys})
	m.Metrics.SetVersion(m.Version)
	m.Metrics.SetLogger(m.Logger.With("component", "metrics"))
	sdkLog := m.Logger.With("component", "aws-sdk")
	awsOpts := append([]func(*awsconfig.LoadOptions) error{
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{m.gateMiddleware()}),
		// The SDK's own warnings (an IMDS fallback, say) go to the daemon's log, in its format.
		awsconfig.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			level := slog.LevelInfo
			if c == logging.Warn {
				level = slog.LevelWarn
			}
			sdkLog.Log(context.Background(), level, fmt.Sprintf(format, v...))
		})),
	}, m.AWSOptions...)
	// base signs with the daemon's own credentials, in aws.region: STS, SES, and every target
	// without a role. Each target's configuration adds the metrics middleware with its account.
	base, err := cloud.Load(ctx, cfg.AWS.Region, cfg.AWS.Endpoint, awsOpts...)
	if err != nil {
		st.Close()
		return err
	}
	awsCfg := base.Copy()
	awsCfg.APIOptions = append(awsCfg.APIOptions, m.Metrics.AWSMiddleware(""))
	senders, err := m.senders(awsCfg)
	if err != nil {
		st.Close()
		return err
	}
	names := make([]string, len(senders))
	for i, s := range senders {
		names[i] = s.Name()
	}
	// Saved capacity and history are keyed by account and region. Rows from before that get
	// this daemon's. Without credentials nothing would work: say so now, not at the first scan.
	account, err := m.account(ctx, awsCfg)
	if err != nil {
		st.Close()
		return err
	}
	m.Account, m.Region, m.AWSConfig = account, awsCfg.Region, awsCfg
	if err := st.Adopt(ctx, m.Account, m.Region); err != nil {
		st.Close()
		return err
	}
	if st.Dialect() == "postgres" {
		m.setUpHA()
	}
	if err := m.openTargets(ctx, base, names); err != nil {
		st.Close()
		return err
	}
	m.Dispatcher = notify.NewDispatcher(st, senders, m.Now, m.Logger.With("component", "notify"))
	m.Dispatcher.OnFailure = m.Metrics.NotificationFailed
	if cfg.WorkSpaces.Reset.Enabled && len(cfg.WorkSpaces.SNS.Topics) > 0 {
		m.snsHandler = m.newSNSHandler()
	}
	if cfg.Server.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Server.Addr)
		if err != nil {
			st.Close()
			return fmt.Errorf("listen on %s (server.addr): %w", cfg.Server.Addr, err)
		}
		m.listener = ln
		m.server = &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
		if cfg.Server.Token == "" {
			m.Logger.Info("no API token: approving, cancelling and rolling back rollouts through the API answer 403",
				"fix", "set server.token or "+config.TokenEnv)
		}
	}
	m.buildLoops()
	m.describe(names)
	return nil
}

// account asks STS whose credentials these are. A failure is an error that says what to fix,
// unless WaitForAWS: then it is retried (fault.Loop backoff) until AWS answers or ctx ends.
func (m *Main) account(ctx context.Context, awsCfg aws.Config) (string, error) {
	for attempt := 1; ; attempt++ {
		account, err := cloud.Account(ctx, awsCfg)
		if err == nil {
			return account, nil
		}
		err = explainAWSStart(err, awsCfg.Region)
		if !m.WaitForAWS || ctx.Err() != nil {
			return "", err
		}
		wait := fault.Loop.Delay(attempt, fault.Classify(err))
		m.Logger.Warn("waiting for AWS", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(wait):
		}
	}
}

// explainAWSStart turns the startup identity check's error into one that says what to do.
func explainAWSStart(err error, region string) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "no EC2 IMDS role found") ||
		strings.Contains(msg, "static credentials are empty") || strings.Contains(msg, "AnonymousCredentials"):
		return fmt.Errorf("no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an instance role (docs/operations.md); use --wait-for-aws to wait for them: %w", err)
	case fault.Classify(err) == fault.Denied:
		return fmt.Errorf("AWS refused the credentials (sts:GetCallerIdentity in %s): check they are valid and not expired: %w", region, err)
	}
	return fmt.Errorf("cannot reach AWS in %s (sts:GetCallerIdentity); use --wait-for-aws to wait for it: %w", region, err)
}

// describe logs what the daemon points at, so that an admin sees at once the region,
// account, windows and channels it will act on.
func (m *Main) describe(senders []string) {
	cfg, log, now := m.Config, m.Logger, m.Now()
	endpoint := cfg.AWS.Endpoint
	if endpoint == "" {
		endpoint = "AWS"
	}
	log.Info("deskpilot starting", "version", orDash(m.Version), "region", m.Region, "account", m.Account, "endpoint", endpoint)
	var running []string
	if m.Rollouts != nil {
		running = append(running, "rollouts")
	}
	if m.Resets != nil {
		running = append(running, "workspaces-resets")
	}
	log.Info("controllers", "running", strings.Join(running, ", "))
	if len(cfg.Targets) > 0 {
		for _, t := range m.targets {
			log.Info("target", "account", t.Account, "region", t.Region, "role", orDash(t.roleARN))
		}
	}
	if m.Rollouts != nil {
		logWindow := func(what string, w window.Window) {
			start, end := w.Schedule(now, 0)
			if start.IsZero() {
				log.Warn("window never opens", "window", what, "spec", w.String())
				return
			}
			loc := w.Location()
			log.Info("window", "window", what, "spec", w.String(), "next_opening", start.In(loc).Format("Mon 2006-01-02 15:04 MST"),
				"until", end.In(loc).Format("15:04 MST"), "in", start.Sub(now).Round(time.Minute).String())
		}
		logWindow("default", cfg.Rollouts.Window.Window)
		for name, w := range cfg.Rollouts.FleetWindows {
			logWindow("fleet "+name, w.Window)
		}
	}
	if len(senders) == 0 {
		log.Warn("no notification channels: admins will not be told of rollouts (notify in the config)")
	} else {
		log.Info("notification channels", "senders", strings.Join(senders, ", "))
	}
	if m.listener != nil {
		log.Info("listening", "addr", m.listener.Addr().String())
	} else {
		log.Info("HTTP server off (server.addr is empty)")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// buildLoops makes one component per part of the daemon. A pass that may have enqueued a
// notice wakes the outbox, so mail goes out within moments rather than at the next interval.
func (m *Main) buildLoops() {
	m.outboxLoop = newComponent("outbox", false, m.flushPass)
	m.outboxLoop.interval = FlushInterval
	wakeOutbox := m.outboxLoop.poke
	for _, t := range m.targets {
		m.buildTargetLoops(t, wakeOutbox)
	}
	m.housekeepingLoop = newComponent("housekeeping", false, m.housekeepingPass)
	m.housekeepingLoop.interval = PruneInterval
	if m.elector != nil {
		for _, c := range m.components() {
			c.pass, c.tickPass = m.gate(c.pass), m.gate(c.tickPass)
		}
		m.haLoop = newComponent("ha", false, m.haPass)
		m.haLoop.interval = ha.TimingFor(m.Config.HA.Takeover.Duration).Renew
	}
	for _, c := range m.components() {
		c.onOK = m.Metrics.PassSucceeded
	}
	for _, t := range m.targets {
		for _, c := range t.loops() {
			c.onRecord = func() { t.metrics.SetUp(t.status().Healthy) }
		}
	}
}

// Passes reports how each of the daemon's loops is doing, for readiness and metrics.
func (m *Main) Passes() []PassStatus {
	var out []PassStatus
	for _, c := range m.components() {
		out = append(out, c.status())
	}
	return out
}

func (m *Main) components() []*component {
	var out []*component
	if m.haLoop != nil {
		out = append(out, m.haLoop)
	}
	for _, t := range m.targets {
		out = append(out, t.loops()...)
	}
	for _, c := range []*component{m.outboxLoop, m.housekeepingLoop} {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// buildTargetLoops makes a target's loops: its image scan, tag events, rollout steps and resets.
func (m *Main) buildTargetLoops(t *target, wakeOutbox func()) {
	if t.rollouts != nil {
		t.rolloutLoop = newComponent(m.loopName(t, "rollouts"), true, t.rollouts.StepsPass)
		t.rolloutLoop.after = wakeOutbox
		t.rolloutLoop.interval = m.Config.Rollouts.PollInterval.Duration
		// A scan may plan a rollout whose window is open: the steps look at it at once.
		t.scanLoop = newComponent(m.loopName(t, "scan"), true, t.rollouts.ScanPass)
		t.scanLoop.after = func() { wakeOutbox(); t.rolloutLoop.poke() }
		t.scanLoop.interval = m.Config.Rollouts.ScanInterval.Duration
		if t.queue != "" {
			t.scanLoop.interval = m.Config.Rollouts.Events.ResyncInterval.Duration
			// Each pass is one long poll: it returns when messages arrive or after 20 s.
			t.eventsLoop = newComponent(m.loopName(t, "events"), false, m.eventsPass(t, cloud.LongPoll))
			// Tick must not wait on the emulator's clock, which only the test advances: it polls
			// without waiting, once per long poll of the clock (a poll every simulated second
			// would make a test's simulated hours cost thousands of ticks).
			t.eventsLoop.tickPass = m.eventsPass(t, 0)
			t.eventsLoop.after = t.scanLoop.after
			t.eventsLoop.interval = cloud.LongPoll
		}
	}
	if t.resets != nil {
		t.resetLoop = newComponent(m.loopName(t, "resets"), false, t.resets.Reconcile)
		t.resetLoop.after = wakeOutbox
		t.resetLoop.interval = m.Config.WorkSpaces.Reset.PollInterval.Duration
	}
}

// flushPass sends what the outbox holds. It has no time budget of its own: it runs in its own
// loop, so a slow mail server delays only mail, and each send is bounded by the dispatcher's
// SendTimeout.
func (m *Main) flushPass(ctx context.Context) (time.Time, error) {
	_, _, err := m.Dispatcher.Flush(ctx)
	if err != nil && ctx.Err() == nil {
		return m.Now().Add(FlushInterval), fmt.Errorf("flush outbox: %w", err)
	}
	return m.Now().Add(FlushInterval), nil
}

// housekeepingPass drops SNS message ids older than the verifier's freshness window: such a
// message is refused anyway, so its id need not be remembered. Tag events' ids share the table
// and the window: an event replayed later than that is reconciled again, which changes nothing
// (the image's tags are read from AppStream, never from the event).
func (m *Main) housekeepingPass(ctx context.Context) (time.Time, error) {
	if m.snsHandler == nil && !m.hasEvents() {
		return m.Now().Add(PruneInterval), nil
	}
	if m.Now().Sub(m.lastPrune) >= PruneInterval {
		if _, err := m.Store.PruneSNSMessages(ctx, m.Now().Add(-2*sns.DefaultMaxAge)); err != nil {
			return m.Now().Add(PruneInterval), fmt.Errorf("prune SNS message ids: %w", err)
		}
		m.lastPrune = m.Now()
	}
	return m.lastPrune.Add(PruneInterval), nil
}

// hasEvents reports whether a target listens to a tag-event queue.
func (m *Main) hasEvents() bool {
	for _, t := range m.targets {
		if t.queue != "" {
			return true
		}
	}
	return false
}

// seenEvents keeps the ids of handled tag events in the store's table of handled messages.
type seenEvents struct{ st *store.Store }

func (s seenEvents) MarkSeen(ctx context.Context, id string, at time.Time) (bool, error) {
	return s.st.MarkSNSMessage(ctx, id, at)
}

func (s seenEvents) Forget(ctx context.Context, id string) error {
	return s.st.ForgetSNSMessage(ctx, id)
}

// imageTagKeys are the image tag keys whose change may start, change or cancel a rollout; a tag
// event about others is ignored. Status is not among them: deskpilot writes it itself, and
// reading the image again after each of its own writes would only cost calls.
func imageTagKeys(cfg config.Config) []string {
	t := cfg.Rollouts.Tags
	return []string{t.FleetName, t.ScaleImmediately, t.Canary, t.Waves, t.Approval, t.Approve, t.Drain}
}

// rolloutConfig maps the file's settings onto the controller's. client sends the requests of
// the health check (nil: http.DefaultClient).
func rolloutConfig(cfg config.Config, senders []string, client *http.Client) rollout.Config {
	r := cfg.Rollouts
	fleetWindows := make(map[string]window.Window, len(r.FleetWindows))
	for name, w := range r.FleetWindows {
		fleetWindows[name] = w.Window
	}
	rc := rollout.Config{
		Keys: rollout.TagKeys{
			FleetName: r.Tags.FleetName, ScaleImmediately: r.Tags.ScaleImmediately, Status: r.Tags.Status,
			MaintenanceWindow: r.Tags.MaintenanceWindow, SavedMin: r.Tags.SavedMin, SavedMax: r.Tags.SavedMax,
			Canary: r.Tags.Canary, Waves: r.Tags.Waves, Approval: r.Tags.Approval, Approve: r.Tags.Approve,
			Drain: r.Tags.Drain,
		},
		DefaultWindow:     r.Window.Window,
		FleetWindows:      fleetWindows,
		ScanInterval:      r.ScanInterval.Duration,
		PollInterval:      r.PollInterval.Duration,
		DrainPollInterval: r.DrainPollInterval.Duration,
		DrainTimeout:      r.DrainTimeout.Duration,
		DrainMode:         r.Drain.Mode,
		SessionDeadline:   r.Drain.SessionDeadline.Duration,
		DeadlineWarning:   r.Drain.Warning.Duration,
		StartMargin:       r.StartMargin.Duration,
		MaxParallel:       r.MaxParallel,
		Senders:           senders,
		PerFleetNotices:   cfg.Notify.PerFleet,
		Waves: rollout.WaveSettings{
			Size:          r.Waves.Size,
			CanaryBake:    r.Waves.CanaryBake.Duration,
			Bake:          r.Waves.Bake.Duration,
			HealthTimeout: r.Health.Timeout.Duration,
			CheckURL:      r.Health.CheckURL,
			NoRollback:    r.Rollback == config.RollbackOff,
		},
	}
	if r.Health.CheckURL != "" {
		rc.Health = &healthCheck{URL: r.Health.CheckURL, Client: client}
	}
	return rc
}

// newSNSHandler builds the endpoint that receives CloudWatch SessionDisconnect alarms through
// SNS: every message verified, deduplicated in the store, and an alarm only prompts a check of
// the WorkSpace (the grace period and the re-check still apply).
func (m *Main) newSNSHandler() http.Handler {
	c := m.Config.WorkSpaces.SNS
	logger := m.Logger.With("component", "sns")
	return &sns.Handler{
		Verifier: &sns.Verifier{TrustedCertURLs: c.TrustedCertURLs, Now: m.Now},
		Topics:   c.Topics,
		Seen:     storeSeen{m.Store},
		Logger:   logger,
		OnAlarm: func(ctx context.Context, a sns.Alarm, msg sns.Message) error {
			// A WorkSpace id names one WorkSpace in all of AWS: the controller that does not
			// track it ignores the nudge.
			for _, t := range m.targets {
				for _, id := range a.WorkspaceIDs {
					if t.resets != nil {
						t.resets.Nudge(id)
					}
				}
			}
			logger.Info("alarm received; checking the WorkSpace now", "alarm", a.AlarmName, "workspaces", a.WorkspaceIDs, "message_id", msg.MessageID)
			m.Wake()
			return nil
		},
	}
}

// storeSeen keeps the SNS message ids already acted on in the store, so that a replay is
// recognised across restarts.
type storeSeen struct{ st *store.Store }

func (s storeSeen) SeenBefore(ctx context.Context, id string, at time.Time) (bool, error) {
	return s.st.MarkSNSMessage(ctx, id, at)
}

func (s storeSeen) Forget(ctx context.Context, id string) error {
	return s.st.ForgetSNSMessage(ctx, id)
}

// resetConfig maps the file's settings onto the reset controller's.
func resetConfig(cfg config.Config, senders []string) reset.Config {
	r := cfg.WorkSpaces.Reset
	return reset.Config{
		Selection: reset.Selection{TagKey: r.Tag, Mode: reset.Mode(r.Mode),
			Directories: r.Selectors.Directories, Bundles: r.Selectors.Bundles, Users: r.Selectors.Users},
		Grace: r.Grace.Duration, PollInterval: r.PollInterval.Duration, InventoryInterval: r.InventoryInterval.Duration,
		DigestInterval: r.DigestInterval.Duration, MaxConcurrent: r.MaxConcurrent, MaxPerMinute: r.MaxPerMinute,
		QuietHours: r.QuietHours.Window, Senders: senders,
		RequireSnapshotAfterLogoff: r.RequireSnapshotAfterLogoff, MaxSnapshotWait: r.MaxSnapshotWait.Duration,
	}
}

// senders builds the notification senders the config asks for.
func (m *Main) senders(awsCfg aws.Config) ([]notify.Sender, error) {
	n := m.Config.Notify
	var out []notify.Sender
	if len(n.Email.To) > 0 {
		switch n.Email.Via {
		case config.ViaSMTP:
			s, err := notify.NewSMTP(notify.SMTPConfig{
				Host: n.Email.SMTP.Host, Port: n.Email.SMTP.Port, Username: n.Email.SMTP.Username,
				Password: n.SMTPPassword(), TLS: n.Email.SMTP.TLS,
			}, n.Email.From, n.Email.To)
			if err != nil {
				return nil, fmt.Errorf("notify.email.smtp: %w", err)
			}
			out = append(out, s)
		default:
			out = append(out, notify.NewSES(sesv2.NewFromConfig(awsCfg), n.Email.From, n.Email.To))
		}
	}
	client := m.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	for _, w := range n.Webhooks {
		// The sender's name is stored with each queued delivery, so it must not change when
		// webhooks are reordered or a format changes; it must not reveal the URL either (it
		// may hold a token). Deliveries queued before a format change go out in the new one.
		sum := sha256.Sum256([]byte(w.URL))
		out = append(out, notify.NewWebhook(w.URL, client, n.WebhookSecret()).
			WithFormat(w.Format).WithName("webhook-"+hex.EncodeToString(sum[:4])))
	}
	return out, nil
}

// Tick runs one pass of every part of the daemon, one after the other (the image scan, the
// rollout steps, resets, the outbox, housekeeping), and returns when the earliest part next wants to run. Tests drive the
// daemon with it and a fake clock; Run runs the same passes, each in its own loop.
func (m *Main) Tick(ctx context.Context) (time.Time, error) {
	var next time.Time
	var errs []error
	for _, c := range m.components() {
		pass := c.pass
		if c.tickPass != nil {
			pass = c.tickPass
		}
		n, err := pass(ctx)
		c.record(m.Now(), err)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
		if next.IsZero() || n.Before(next) {
			next = n
		}
	}
	return next, errors.Join(errs...)
}

// Run serves until ctx ends: the HTTP server in its own goroutine, and each part of the daemon
// (the image scan, the rollout steps, resets, outbox, housekeeping) in a loop of its own, so that an error or a slow call
// in one never delays another.
func (m *Main) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := m.StartServer()
	var serveErr error
	served := make(chan struct{})
	go func() {
		defer close(served)
		for err := range errc {
			serveErr = err
			cancel()
		}
	}()
	runAll(ctx, m.components(), m.Now, m.Logger)
	if m.elector != nil {
		// A clean stop hands the lease over at once rather than after ha.takeover.
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.elector.Release(rctx); err != nil {
			m.Logger.Warn("could not release the leader lease; another replica takes over when it runs out", "err", err)
		}
		rcancel()
	}
	if m.server != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = m.server.Shutdown(sctx)
		scancel()
	}
	<-served
	return serveErr
}

// StartServer serves the HTTP API (and the SNS endpoint) in the background, when server.addr
// is set. The channel yields the server's error (nil after a clean shutdown) and closes.
func (m *Main) StartServer() <-chan error {
	errc := make(chan error, 1)
	if m.server == nil || m.serving {
		close(errc)
		return errc
	}
	m.serving = true
	m.Logger.Info("deskpilot serving", "addr", m.listener.Addr().String())
	go func() {
		defer close(errc)
		if err := m.server.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	return errc
}

// Wake asks the reset loop for a pass now rather than when the next one is due (an SNS alarm
// said a user disconnected).
func (m *Main) Wake() {
	for _, t := range m.targets {
		if t.resetLoop != nil {
			t.resetLoop.poke()
		}
	}
}

// Addr returns the HTTP server's address, or "" when it is off.
func (m *Main) Addr() string {
	if m.listener == nil {
		return ""
	}
	return m.listener.Addr().String()
}

// Close releases the store and the listener.
func (m *Main) Close() error {
	var errs []error
	if m.listener != nil && m.server == nil {
		errs = append(errs, m.listener.Close())
	}
	if m.server != nil {
		errs = append(errs, m.server.Close())
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}
