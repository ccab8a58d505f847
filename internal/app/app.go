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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"

	"github.com/deskpilot/deskpilot/internal/cloud"
	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/notify"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/sns"
	"github.com/deskpilot/deskpilot/internal/store"
	"github.com/deskpilot/deskpilot/internal/window"
)

// FlushInterval is how often the outbox is flushed when nothing else wakes it.
const FlushInterval = 5 * time.Second

// FlushBudget bounds how long one pass spends sending notices.
const FlushBudget = 2 * time.Second

// maxErrorBackoff caps the wait after passes that keep failing (AWS denies a call, an endpoint
// is down): failures back off from 1 s to this, instead of retrying in a tight loop.
const maxErrorBackoff = time.Minute

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
	// HTTPClient is used by webhook senders; nil means a client with a 10 s timeout.
	HTTPClient *http.Client

	Store      *store.Store
	Rollouts   *rollout.Controller
	Dispatcher *notify.Dispatcher
	// Resets is nil unless workspaces.reset.enabled.
	Resets *reset.Controller

	// snsHandler receives SNS alarm notifications (nil unless topics are configured).
	snsHandler http.Handler

	serving bool

	// lastPrune is when old SNS message ids were last dropped from the store.
	lastPrune time.Time

	// wake interrupts Run's sleep when something (an SNS alarm) asks for a pass now.
	wake chan struct{}

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
	st, err := store.Open(ctx, cfg.Store.Path, store.Options{Now: m.Now})
	if err != nil {
		return err
	}
	m.Store = st
	awsCfg, err := cloud.Load(ctx, cfg.AWS.Region, cfg.AWS.Endpoint, m.AWSOptions...)
	if err != nil {
		st.Close()
		return err
	}
	senders, err := m.senders(awsCfg)
	if err != nil {
		st.Close()
		return err
	}
	names := make([]string, len(senders))
	for i, s := range senders {
		names[i] = s.Name()
	}
	if cfg.Rollouts.Enabled {
		m.Rollouts = rollout.New(rolloutConfig(cfg, names),
			cloud.NewAppStream(appstream.NewFromConfig(awsCfg)),
			cloud.NewScaler(applicationautoscaling.NewFromConfig(awsCfg)),
			st, m.Now, m.Logger.With("component", "rollouts"))
	}
	m.Dispatcher = notify.NewDispatcher(st, senders, m.Now, m.Logger.With("component", "notify"))
	m.wake = make(chan struct{}, 1)
	if cfg.WorkSpaces.Reset.Enabled {
		m.Resets = reset.New(resetConfig(cfg, names), cloud.NewWorkSpaces(workspaces.NewFromConfig(awsCfg)), st, m.Now, m.Logger.With("component", "resets"))
		if len(cfg.WorkSpaces.SNS.Topics) > 0 {
			m.snsHandler = m.newSNSHandler()
		}
	}
	if cfg.Server.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Server.Addr)
		if err != nil {
			st.Close()
			return fmt.Errorf("listen on %s (server.addr): %w", cfg.Server.Addr, err)
		}
		m.listener = ln
		m.server = &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	}
	return nil
}

// rolloutConfig maps the file's settings onto the controller's.
func rolloutConfig(cfg config.Config, senders []string) rollout.Config {
	r := cfg.Rollouts
	fleetWindows := make(map[string]window.Window, len(r.FleetWindows))
	for name, w := range r.FleetWindows {
		fleetWindows[name] = w.Window
	}
	return rollout.Config{
		Keys: rollout.TagKeys{
			FleetName: r.Tags.FleetName, ScaleImmediately: r.Tags.ScaleImmediately, Status: r.Tags.Status,
			MaintenanceWindow: r.Tags.MaintenanceWindow, SavedMin: r.Tags.SavedMin, SavedMax: r.Tags.SavedMax,
		},
		DefaultWindow:     r.Window.Window,
		FleetWindows:      fleetWindows,
		ScanInterval:      r.ScanInterval.Duration,
		PollInterval:      r.PollInterval.Duration,
		DrainPollInterval: r.DrainPollInterval.Duration,
		DrainTimeout:      r.DrainTimeout.Duration,
		StartMargin:       r.StartMargin.Duration,
		MaxParallel:       r.MaxParallel,
		Senders:           senders,
		PerFleetNotices:   cfg.Notify.PerFleet,
	}
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
			for _, id := range a.WorkspaceIDs {
				m.Resets.Nudge(id)
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
	for _, url := range n.Webhooks {
		// The sender's name is stored with each queued delivery, so it must not change when
		// webhooks are reordered; it must not reveal the URL either (it may hold a token).
		sum := sha256.Sum256([]byte(url))
		out = append(out, notify.NewWebhook(url, client, n.WebhookSecret()).WithName("webhook-"+hex.EncodeToString(sum[:4])))
	}
	return out, nil
}

// Tick runs one pass of everything (a rollout pass and an outbox flush) and returns when the
// next rollout pass is due. Tests drive the daemon with it and a fake clock.
func (m *Main) Tick(ctx context.Context) (time.Time, error) {
	next := m.Now().Add(FlushInterval)
	var err error
	if m.Rollouts != nil {
		next, err = m.Rollouts.Reconcile(ctx)
	}
	if m.Resets != nil {
		rnext, rerr := m.Resets.Reconcile(ctx)
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("resets: %w", rerr))
		}
		if rnext.Before(next) {
			next = rnext
		}
	}
	if m.snsHandler != nil && m.Now().Sub(m.lastPrune) >= time.Hour {
		// A message older than the verifier's freshness window is refused anyway, so its id
		// need not be remembered.
		if _, perr := m.Store.PruneSNSMessages(ctx, m.Now().Add(-2*sns.DefaultMaxAge)); perr == nil {
			m.lastPrune = m.Now()
		}
	}
	// A slow mail server or webhook must not hold up the next pass (a restore may be due):
	// what does not go out within the budget stays due for the next flush.
	fctx, cancel := context.WithTimeout(ctx, FlushBudget)
	defer cancel()
	if _, _, ferr := m.Dispatcher.Flush(fctx); ferr != nil && fctx.Err() == nil {
		err = errors.Join(err, fmt.Errorf("flush outbox: %w", ferr))
	}
	return next, err
}

// Run serves until ctx ends: the HTTP server in its own goroutine, and one loop that runs a
// rollout pass and then flushes the outbox, sleeping until the next pass is due (at most
// FlushInterval). Flushing in the same loop means no mail is ever in flight while a rollout
// step acts, so a crash after any AWS action never leaves a half-recorded send behind.
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
	failures := 0
	for ctx.Err() == nil {
		next, err := m.Tick(ctx)
		wait := min(max(next.Sub(m.Now()), 0), FlushInterval)
		if wait == 0 {
			wait = 10 * time.Millisecond // work is due now; let the server breathe
		}
		if err != nil && ctx.Err() == nil {
			failures++
			backoff := min(time.Second<<min(failures-1, 6), maxErrorBackoff)
			wait = max(wait, backoff)
			m.Logger.Warn("pass failed; retrying", "err", err, "retry_in", backoff)
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-m.wake:
		}
		t.Stop()
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

// Wake asks Run for a pass now rather than when the next one is due.
func (m *Main) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
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
