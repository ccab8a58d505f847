package config

import (
	"os"
	"time"

	"github.com/deskpilot/deskpilot/internal/window"
)

// Defaults. A key absent from the file takes the value here.
const (
	DefaultStorePath  = "./deskpilot.db"
	DefaultServerAddr = "127.0.0.1:8080"

	// DefaultWindow is the default maintenance window: Sunday 02:00 to 05:00 UTC.
	DefaultWindow       = "sun:02:00-sun:05:00"
	DefaultScanInterval = 60 * time.Second
	// DefaultResyncInterval is the full image scan while tag events arrive through a queue:
	// a safety net for a lost event, so it may be far longer than DefaultScanInterval.
	DefaultResyncInterval    = 15 * time.Minute
	DefaultPollInterval      = 10 * time.Second
	DefaultDrainPollInterval = 5 * time.Second
	DefaultDrainTimeout      = 2 * time.Hour
	// DefaultDrainMode keeps the recipe's behaviour: an image tagged ScaleImmediately=True
	// drains its fleets by scaling them to zero, and no other image is drained.
	DefaultDrainMode            = DrainNone
	DefaultDrainSessionDeadline = 4 * time.Hour
	DefaultDrainWarning         = 30 * time.Minute
	DefaultStartMargin          = 30 * time.Minute
	DefaultMaxParallel          = 10

	// The recipe's tag keys, which admins already know.
	DefaultFleetNameTag         = "FleetName"
	DefaultScaleImmediatelyTag  = "ScaleImmediately"
	DefaultStatusTag            = "Status"
	DefaultMaintenanceWindowTag = "MaintenanceWindow"
	DefaultSavedMinTag          = "Min"
	DefaultSavedMaxTag          = "Max"
	DefaultCanaryTag            = "Canary"
	DefaultWavesTag             = "Waves"
	DefaultApprovalTag          = "Approval"
	DefaultApproveTag           = "Approve"
	DefaultDrainTag             = "Drain"

	// Progressive rollouts. The default wave size, 0, puts every fleet after the canary in
	// one wave; the default bake between later waves is 0.
	DefaultCanaryBake    = 10 * time.Minute
	DefaultHealthTimeout = 30 * time.Minute
	DefaultRollback      = RollbackFailedWave

	DefaultVia      = ViaSES
	DefaultSMTPPort = 587
	DefaultSMTPTLS  = TLSStartTLS
	DefaultPerFleet = true

	DefaultWebhookFormat = WebhookJSON

	DefaultResetTag           = "deskpilot:reset"
	DefaultResetGrace         = 15 * time.Minute
	DefaultResetPollInterval  = 60 * time.Second
	DefaultResetMaxConcurrent = 10
	DefaultResetMode          = "rebuild"
	DefaultResetMaxPerMinute  = 30

	DefaultResetInventoryInterval = 15 * time.Minute
	DefaultResetDigestInterval    = time.Hour
	// DefaultResetMaxSnapshotWait is a little more than the 12 hours between two of
	// WorkSpaces' automatic snapshots, so one always falls inside the wait.
	DefaultResetMaxSnapshotWait = 13 * time.Hour
	DefaultSNSPath              = "/sns"

	// DefaultHATakeover is how soon a replica takes over from a leader that stopped renewing
	// its lease (ha.takeover).
	DefaultHATakeover = 15 * time.Second
)

// Limits Validate enforces.
const (
	// MinScanInterval bounds how often images are listed, to stay clear of
	// AWS throttling.
	MinScanInterval = time.Second
	// MaxParallel bounds rollouts.max_parallel and
	// workspaces.reset.max_concurrent.
	MaxParallel = 1000
	// MaxDrainSessionDeadline bounds rollouts.drain.session_deadline: a drain that lets
	// sessions run longer than a day is no drain.
	MaxDrainSessionDeadline = 24 * time.Hour
	// MinHATakeover bounds ha.takeover: the lease is renewed a few times within it, and a
	// renewal is a database round trip.
	MinHATakeover = 3 * time.Second
	// MaxSnapshotWait bounds workspaces.reset.max_snapshot_wait: WorkSpaces takes a snapshot
	// every 12 hours, so a WorkSpace still without one after two days has a problem a longer
	// wait would not solve.
	MaxSnapshotWait = 48 * time.Hour
)

// Values of Drain.Mode.
const (
	// DrainNone drains no fleet unless its image is tagged ScaleImmediately=True, which
	// means DrainScaleToZero, as in the recipe.
	DrainNone = "none"
	// DrainScaleToZero saves each fleet's Min and Max, scales it to zero and restores the
	// capacity once its last instance is gone.
	DrainScaleToZero = "scale-to-zero"
	// DrainSessions waits for the sessions on instances of the old image to end by
	// themselves.
	DrainSessions = "sessions"
	// DrainDeadline waits like DrainSessions, but ends the sessions still on instances of
	// the old image Drain.SessionDeadline after the drain starts, warning admins
	// Drain.Warning before.
	DrainDeadline = "deadline"
)

// Values of Rollouts.Rollback.
const (
	// RollbackFailedWave rolls back a wave that fails its health gate.
	RollbackFailedWave = "failed-wave"
	// RollbackOff halts a rollout whose wave fails its health gate and waits for a person
	// to approve (go on), roll back or cancel it.
	RollbackOff = "off"
)

// TokenEnv names the environment variable that sets Server.Token. When it is set and not
// empty it wins over the file.
const TokenEnv = "DESKPILOT_TOKEN"

// PostgresURLEnv names the environment variable that sets Store.Postgres.URL. When it is
// set and not empty it wins over the file, so that the password need not be in it.
const PostgresURLEnv = "DESKPILOT_POSTGRES_URL"

// Values of Email.Via.
const (
	// ViaSES sends mail through Amazon SES (API v2) in the configured region.
	ViaSES = "ses"
	// ViaSMTP sends mail through the SMTP server in Email.SMTP.
	ViaSMTP = "smtp"
)

// Values of SMTP.TLS.
const (
	// TLSNone sends in clear text; only for a relay on the same host.
	TLSNone = "none"
	// TLSStartTLS upgrades the connection with STARTTLS and refuses to send
	// if the server does not offer it (usually port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit = "tls"
)

// Config is the whole configuration file. Use Default or Parse to make one:
// the zero Config is safe to read (its windows never open, its lists are
// empty) but does not validate.
type Config struct {
	// AWS says which AWS region and endpoint deskpilot talks to.
	AWS AWS `yaml:"aws"`
	// Targets are the AWS accounts and regions whose fleets and WorkSpaces deskpilot looks
	// after. Empty means one: the account of the credentials, in aws.region.
	Targets []Target `yaml:"targets"`
	// Store says where deskpilot keeps its state.
	Store Store `yaml:"store"`
	// Server is deskpilot's own HTTP server.
	Server Server `yaml:"server"`
	// Rollouts governs how images are applied to AppStream fleets.
	Rollouts Rollouts `yaml:"rollouts"`
	// Notify says whom deskpilot tells what it did, and how.
	Notify Notify `yaml:"notify"`
	// WorkSpaces governs resetting WorkSpaces after their users log off.
	WorkSpaces WorkSpaces `yaml:"workspaces"`
	// HA governs several replicas of deskpilot on one PostgreSQL store.
	HA HA `yaml:"ha"`
}

// HA governs several replicas of deskpilot on one PostgreSQL store (store.postgres): one,
// the leader, holds a lease in the store and acts; the others serve the API and the
// dashboard read-only and take over when the leader stops renewing its lease.
type HA struct {
	// Takeover is the lease's length: a replica takes over at most this long after the leader
	// stopped renewing (it died, hung or lost the database), and a leader that could not renew
	// for this long stops acting. At least MinHATakeover.
	Takeover Duration `yaml:"takeover"`
}

// AWS says which AWS region and endpoint deskpilot talks to. Credentials are
// never in the file: they come from the SDK's usual chain (environment,
// shared config and credentials files, instance or task role).
type AWS struct {
	// Region is the AWS region of the fleets, images and WorkSpaces, such as
	// eu-central-1. If the file does not name one, AWS_REGION does, and
	// otherwise the AWS profile's region; with none of them deskpilot does not
	// start (it never picks a region silently).
	Region string `yaml:"region"`
	// Endpoint, if set, is the base URL of every AWS client, such as
	// http://127.0.0.1:4566 for deskpilot's emulator. Empty means AWS's own
	// endpoints. The SDK also honours AWS_ENDPOINT_URL and
	// AWS_ENDPOINT_URL_<SERVICE>.
	Endpoint string `yaml:"endpoint"`
}

// Target is one AWS account and the regions of it deskpilot looks after. Each (account,
// region) pair is served on its own: its own credentials, scans, rollouts and resets, so that
// one that fails (an outage, a region denied by an SCP, credentials that expired) never holds
// up another.
type Target struct {
	// Account is the 12-digit AWS account id.
	Account string `yaml:"account"`
	// RoleARN is the IAM role in Account that deskpilot assumes (STS AssumeRole) with its own
	// credentials. Empty: deskpilot's own credentials, which must then be of Account.
	RoleARN string `yaml:"role_arn"`
	// ExternalID is passed to AssumeRole when set (the role's sts:ExternalId condition).
	ExternalID string `yaml:"external_id"`
	// SessionName names the assumed-role session (it appears in CloudTrail). Default
	// DefaultSessionName.
	SessionName string `yaml:"session_name"`
	// Regions are the regions of Account to serve; at least one.
	Regions []string `yaml:"regions"`
}

// DefaultSessionName is the RoleSessionName deskpilot gives AssumeRole when a target names none.
const DefaultSessionName = "deskpilot"

// Store says where deskpilot keeps its state: rollouts, steps, saved fleet
// capacity, resets, the outbox of notices and the audit trail.
type Store struct {
	// Path is the SQLite database file, created if missing. A relative path
	// is relative to the working directory of the daemon. Not used when
	// Postgres.URL is set.
	Path string `yaml:"path"`
	// Postgres, when its URL is set, keeps the state in PostgreSQL instead,
	// which several replicas can share (see HA).
	Postgres Postgres `yaml:"postgres"`
}

// Postgres is a PostgreSQL store.
type Postgres struct {
	// URL is the connection string, postgres://user:password@host:5432/db?sslmode=require.
	// The environment variable PostgresURLEnv, when set and not empty, wins over this key,
	// so that the password need not be in the file.
	URL string `yaml:"url"`
}

// Server is deskpilot's own HTTP server: the API the operator commands use,
// the dashboard, /metrics, /healthz and the SNS endpoint.
type Server struct {
	// Addr is the host:port to listen on. Empty turns the server off (and
	// with it the operator commands and the SNS endpoint). Listen on a
	// loopback or private address: the API can approve, cancel and roll back rollouts.
	Addr string `yaml:"addr"`
	// Token is the bearer token the mutating API (approve, cancel and roll back a rollout)
	// requires: "Authorization: Bearer <token>". Empty turns that API off: it answers 403.
	// The environment variable TokenEnv, when set and not empty, wins over this key, so that
	// the token need not be in the file. Visible ASCII characters only, without spaces.
	Token string `yaml:"token"`
}

// Rollouts governs how images are applied to AppStream fleets.
type Rollouts struct {
	// Enabled runs the rollout controller (on by default). Turn it off in a deployment that
	// only resets WorkSpaces and has no AppStream permissions.
	Enabled bool `yaml:"enabled"`
	// Window is the maintenance window in which rollouts start, for every
	// fleet without its own in FleetWindows. Required.
	Window Window `yaml:"window"`
	// FleetWindows gives fleets their own maintenance window, by fleet name.
	// A fleet's MaintenanceWindow tag overrides it.
	FleetWindows map[string]Window `yaml:"fleet_windows"`
	// ScanInterval is how often images are listed to find new rollout tags;
	// at least MinScanInterval.
	ScanInterval Duration `yaml:"scan_interval"`
	// PollInterval is how often an active step (applying the image,
	// restoring capacity) is checked again.
	PollInterval Duration `yaml:"poll_interval"`
	// DrainPollInterval is how often a fleet scaled to zero is checked:
	// its capacity is restored within this long of its last instance going.
	DrainPollInterval Duration `yaml:"drain_poll_interval"`
	// DrainTimeout bounds a drain: a fleet that still has instances after
	// this long has its capacity restored anyway, and the step is reported.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// Drain says how a fleet's sessions on the old image are ended after the new image is
	// applied.
	Drain Drain `yaml:"drain"`
	// StartMargin is the least time left in an open window for a rollout
	// requested during it to start at once; otherwise it waits for the next
	// opening. It must be shorter than the longest range of every window.
	StartMargin Duration `yaml:"start_margin"`
	// MaxParallel is how many fleets are updated at once, 1 to MaxParallel.
	MaxParallel int `yaml:"max_parallel"`
	// Waves shape progressive rollouts (an image with a Canary or Waves tag): see
	// docs/rollouts.md#progressive-rollouts.
	Waves Waves `yaml:"waves"`
	// Health is the gate each wave of a progressive rollout must pass before the next starts.
	Health Health `yaml:"health"`
	// Rollback is what happens when a wave fails its health gate: RollbackFailedWave or
	// RollbackOff.
	Rollback string `yaml:"rollback"`
	// Tags are the tag keys of the rollout protocol.
	Tags Tags `yaml:"tags"`
	// Events, when its queue is set, has tag changes arrive within seconds through an SQS
	// queue fed by an EventBridge rule (deskpilot bootstrap creates both); the full scan
	// then runs every ResyncInterval instead of ScanInterval, as a safety net.
	Events Events `yaml:"events"`
}

// Events is the SQS queue of CloudTrail tag events for AppStream images.
type Events struct {
	// Queue is the queue's URL (https://sqs.<region>.amazonaws.com/<account>/<name>) or its
	// name in the account and region of aws. Empty turns events off.
	Queue string `yaml:"queue"`
	// ResyncInterval is the full image scan while events are on; at least MinScanInterval.
	ResyncInterval Duration `yaml:"resync_interval"`
}

// Drain says how a fleet's sessions on the old image are ended after the new image is
// applied.
type Drain struct {
	// Mode is DrainNone (the default: only an image tagged ScaleImmediately=True drains, by
	// DrainScaleToZero), DrainScaleToZero, DrainSessions or DrainDeadline.
	Mode string `yaml:"mode"`
	// SessionDeadline, in DrainDeadline mode, is how long after the drain starts the
	// sessions still on instances of the old image are ended. Positive, at most
	// MaxDrainSessionDeadline.
	SessionDeadline Duration `yaml:"session_deadline"`
	// Warning, in DrainDeadline mode, is how long before the deadline admins are warned.
	// At least 0 and shorter than SessionDeadline.
	Warning Duration `yaml:"warning"`
}

// Tags are the tag keys of the rollout protocol, on images and on fleets.
// The defaults are those of the AWS recipe deskpilot replaces, so admins can
// keep tagging as they did. Each must be a valid AWS tag key not starting
// with "aws:", and all must differ.
type Tags struct {
	// FleetName, on an image, asks for a rollout of the image to the fleets
	// it names, separated by "/". Removing it before the rollout starts
	// cancels the rollout.
	FleetName string `yaml:"fleet_name"`
	// ScaleImmediately, on an image, set to "True" (in any case), drains each
	// running fleet after the image is applied, so that new sessions get the
	// new image at once.
	ScaleImmediately string `yaml:"scale_immediately"`
	// Status is written by deskpilot: on an image, "Pending/<start>" while its
	// rollout waits; on a fleet being drained, "Pending" while its capacity
	// is saved in SavedMin and SavedMax.
	Status string `yaml:"status"`
	// MaintenanceWindow, on a fleet, gives that fleet its own window, written
	// like Rollouts.Window. It overrides Rollouts.FleetWindows and
	// Rollouts.Window.
	MaintenanceWindow string `yaml:"maintenance_window"`
	// SavedMin and SavedMax are written by deskpilot on a fleet it drains,
	// holding the fleet's Min and Max capacity until they are restored.
	SavedMin string `yaml:"saved_min"`
	SavedMax string `yaml:"saved_max"`
	// Canary, on an image, names the fleets (written as in FleetName, among the fleets it
	// names) that form the first wave of a progressive rollout, the canary.
	Canary string `yaml:"canary"`
	// Waves, on an image, is the most fleets in each wave after the canary; it overrides
	// Rollouts.Waves.Size.
	Waves string `yaml:"waves"`
	// Approval, on an image, set to "Manual", makes the rollout wait for a person after the
	// canary wave is healthy.
	Approval string `yaml:"approval"`
	// Approve, on an image, set to "True", is a person's approval of that wait.
	Approve string `yaml:"approve"`
	// Drain, on an image or a fleet, is that rollout's or fleet's drain mode (see Drain.Mode);
	// a fleet's tag wins.
	Drain string `yaml:"drain"`
}

// Waves shape progressive rollouts: the canary wave first, then waves of at most Size fleets,
// each released when the one before has passed its health gate and baked.
type Waves struct {
	// Size is the most fleets in each wave after the canary when the image has no Waves
	// tag; 0 puts all remaining fleets in one wave. At least 0.
	Size int `yaml:"size"`
	// CanaryBake is how long to wait, once the canary wave is healthy, before the next wave.
	// At least 0.
	CanaryBake Duration `yaml:"canary_bake"`
	// Bake is the same wait between later waves. At least 0.
	Bake Duration `yaml:"bake"`
}

// Health is the gate a wave of a progressive rollout must pass.
type Health struct {
	// Timeout is how long a wave whose fleets finished may take to become healthy; a wave
	// not healthy by then has failed. Positive.
	Timeout Duration `yaml:"timeout"`
	// CheckURL, when set, is asked about each fleet of a wave: GET
	// <CheckURL>?fleet=<fleet>&image=<image> must answer 2xx for the fleet to pass. It is an
	// absolute http or https URL; a query it already has is kept, with fleet and image added.
	CheckURL string `yaml:"check_url"`
}

// Notify says whom deskpilot tells what it did, and how. Notices are kept in
// an outbox and retried until sent.
type Notify struct {
	// Email sends notices as mail (plain text and HTML).
	Email Email `yaml:"email"`
	// Webhooks each get every notice as a POST. In the file an entry is a URL alone, for
	// deskpilot's JSON, or a mapping with url and format.
	Webhooks Webhooks `yaml:"webhooks"`
	// WebhookSecretEnv names an environment variable holding the secret
	// with which webhook requests are signed (HMAC-SHA256, in the
	// X-Deskpilot-Signature header). Empty means unsigned requests.
	WebhookSecretEnv string `yaml:"webhook_secret_env"`
	// PerFleet, when true, also sends a notice for each fleet's result, not
	// only one per rollout.
	PerFleet bool `yaml:"per_fleet"`
}

// Webhooks are the webhooks of Notify, in the order of the file.
type Webhooks []Webhook

// Webhook is one URL that gets every notice as a POST, in a format its receiver takes.
type Webhook struct {
	// URL is the absolute http or https URL to post to. Required.
	URL string `yaml:"url"`
	// Format is the body: WebhookJSON (deskpilot's JSON form of the notice, the default;
	// empty means the same), WebhookSlack (a Slack incoming-webhook message) or WebhookTeams
	// (a Microsoft Teams message with an Adaptive Card, for an incoming webhook or a Workflows
	// webhook). Slack and Teams refuse deskpilot's JSON.
	Format string `yaml:"format"`
}

// Values of Webhook.Format.
const (
	// WebhookJSON posts the JSON form of each notice, for receivers written for deskpilot.
	WebhookJSON = "json"
	// WebhookSlack posts a Slack incoming-webhook message: text and Block Kit blocks.
	WebhookSlack = "slack"
	// WebhookTeams posts a Microsoft Teams message holding one Adaptive Card.
	WebhookTeams = "teams"
)

// Email sends notices as mail. It is off while To is empty.
type Email struct {
	// From is the sender's bare address, such as deskpilot@example.com.
	// Required when To is set; with SES it must be a verified identity.
	From string `yaml:"from"`
	// To are the recipients' bare addresses.
	To []string `yaml:"to"`
	// Via is ViaSES or ViaSMTP.
	Via string `yaml:"via"`
	// SMTP is the server used when Via is ViaSMTP.
	SMTP SMTP `yaml:"smtp"`
}

// SMTP says how to reach an SMTP server.
type SMTP struct {
	// Host is the server's name or address. Required when Email.Via is
	// ViaSMTP.
	Host string `yaml:"host"`
	// Port is the server's port, 1 to 65535: usually 587 with TLSStartTLS
	// and 465 with TLSImplicit.
	Port int `yaml:"port"`
	// Username, when set, authenticates with the password in the
	// environment variable PasswordEnv.
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// TLS is TLSNone, TLSStartTLS or TLSImplicit. Certificates are checked
	// against Host.
	TLS string `yaml:"tls"`
}

// WorkSpaces governs resetting WorkSpaces (rebuilding or restoring them)
// after their users log off.
type WorkSpaces struct {
	// Reset says which WorkSpaces are reset, and when.
	Reset Reset `yaml:"reset"`
	// SNS is the endpoint on which deskpilot receives SNS notifications
	// (such as CloudWatch alarms on SessionDisconnect) that prompt a check.
	SNS SNS `yaml:"sns"`
}

// Reset says which WorkSpaces are reset, and when.
type Reset struct {
	// Enabled turns the reset controller on. It is off by default because it needs WorkSpaces
	// permissions a rollouts-only deployment does not have.
	Enabled bool `yaml:"enabled"`
	// Tag is the WorkSpaces tag key that marks a WorkSpace for reset: its value is rebuild,
	// restore or off. It wins over the selectors, so "off" opts a selected WorkSpace out.
	Tag string `yaml:"tag"`
	// Mode is how WorkSpaces chosen by Selectors (and not by their tag) are reset: rebuild or
	// restore.
	Mode string `yaml:"mode"`
	// Selectors choose WorkSpaces for reset without tagging them. With every list empty they
	// choose none; otherwise a WorkSpace must match every non-empty list.
	Selectors Selectors `yaml:"selectors"`
	// Grace is how long a user must have been disconnected before the
	// WorkSpace is reset, so that a network blip does not wipe a desktop.
	Grace Duration `yaml:"grace"`
	// PollInterval is how often connection states are checked.
	PollInterval Duration `yaml:"poll_interval"`
	// MaxConcurrent is how many WorkSpaces are reset at once, 1 to
	// MaxParallel.
	MaxConcurrent int `yaml:"max_concurrent"`
	// QuietHours is a window during which no reset starts, written like
	// Rollouts.Window. Empty means none.
	QuietHours Window `yaml:"quiet_hours"`
	// MaxPerMinute caps how many resets start in any minute, 1 to 1000, so that a mass logoff
	// (end of a shift) does not hit the WorkSpaces API rate limits.
	MaxPerMinute int `yaml:"max_per_minute"`
	// InventoryInterval is how often the list of WorkSpaces and their opt-in tags are read
	// again. Connection states are polled every PollInterval; a WorkSpace's tag is also read
	// again right before it is reset, so an opt-out takes effect at once.
	InventoryInterval Duration `yaml:"inventory_interval"`
	// DigestInterval is how often admins get one notice listing the resets since the last one
	// (never one notice per WorkSpace).
	DigestInterval Duration `yaml:"digest_interval"`
	// RequireSnapshotAfterLogoff, when true, makes a reset wait until WorkSpaces has taken a
	// snapshot of the WorkSpace newer than the user's logoff, so that the reset desktop keeps
	// the files of the session that just ended.
	RequireSnapshotAfterLogoff bool `yaml:"require_snapshot_after_logoff"`
	// MaxSnapshotWait bounds that wait: a WorkSpace with no snapshot newer than the logoff
	// this long after it is not reset (until its user logs off again), and the skip is
	// recorded. Positive, at most MaxSnapshotWait.
	MaxSnapshotWait Duration `yaml:"max_snapshot_wait"`
}

// Selectors narrow the WorkSpaces considered for reset. An empty list does
// not narrow; a WorkSpace must match every non-empty list.
type Selectors struct {
	// Directories are directory IDs, such as d-1234567890.
	Directories []string `yaml:"directories"`
	// Bundles are bundle IDs, such as wsb-abcd12345.
	Bundles []string `yaml:"bundles"`
	// Users are user names, or shell-style patterns such as kiosk-*.
	Users []string `yaml:"users"`
}

// SNS is the endpoint on which deskpilot receives SNS notifications. It is
// served by Server, so it needs Server.Addr.
type SNS struct {
	// Path is the URL path of the endpoint, starting with "/".
	Path string `yaml:"path"`
	// Topics are the ARNs of the topics whose notifications are accepted;
	// deskpilot refuses any other, and confirms subscriptions only to these.
	Topics []string `yaml:"topics"`
	// TrustedCertURLs are signing-certificate URLs trusted besides AWS's own
	// (https://sns.<region>.amazonaws.com/…pem). Only for deskpilot's emulator, whose
	// certificate is never trusted unless named here.
	TrustedCertURLs []string `yaml:"trusted_cert_urls"`
}

// Default returns the configuration of an empty file, apart from the
// environment.
func Default() Config {
	return Config{
		AWS:    AWS{},
		Store:  Store{Path: DefaultStorePath},
		HA:     HA{Takeover: Duration{DefaultHATakeover}},
		Server: Server{Addr: DefaultServerAddr},
		Rollouts: Rollouts{
			Enabled:           true,
			Window:            Window{window.MustParse(DefaultWindow)},
			ScanInterval:      Duration{DefaultScanInterval},
			PollInterval:      Duration{DefaultPollInterval},
			DrainPollInterval: Duration{DefaultDrainPollInterval},
			DrainTimeout:      Duration{DefaultDrainTimeout},
			Drain: Drain{
				Mode:            DefaultDrainMode,
				SessionDeadline: Duration{DefaultDrainSessionDeadline},
				Warning:         Duration{DefaultDrainWarning},
			},
			StartMargin: Duration{DefaultStartMargin},
			MaxParallel: DefaultMaxParallel,
			Events:      Events{ResyncInterval: Duration{DefaultResyncInterval}},
			Waves:       Waves{CanaryBake: Duration{DefaultCanaryBake}},
			Health:      Health{Timeout: Duration{DefaultHealthTimeout}},
			Rollback:    DefaultRollback,
			Tags: Tags{
				FleetName:         DefaultFleetNameTag,
				ScaleImmediately:  DefaultScaleImmediatelyTag,
				Status:            DefaultStatusTag,
				MaintenanceWindow: DefaultMaintenanceWindowTag,
				SavedMin:          DefaultSavedMinTag,
				SavedMax:          DefaultSavedMaxTag,
				Canary:            DefaultCanaryTag,
				Waves:             DefaultWavesTag,
				Approval:          DefaultApprovalTag,
				Approve:           DefaultApproveTag,
				Drain:             DefaultDrainTag,
			},
		},
		Notify: Notify{
			Email: Email{
				Via:  DefaultVia,
				SMTP: SMTP{Port: DefaultSMTPPort, TLS: DefaultSMTPTLS},
			},
			PerFleet: DefaultPerFleet,
		},
		WorkSpaces: WorkSpaces{
			Reset: Reset{
				Tag:               DefaultResetTag,
				Mode:              DefaultResetMode,
				Grace:             Duration{DefaultResetGrace},
				PollInterval:      Duration{DefaultResetPollInterval},
				MaxConcurrent:     DefaultResetMaxConcurrent,
				MaxPerMinute:      DefaultResetMaxPerMinute,
				InventoryInterval: Duration{DefaultResetInventoryInterval},
				DigestInterval:    Duration{DefaultResetDigestInterval},
				MaxSnapshotWait:   Duration{DefaultResetMaxSnapshotWait},
			},
			SNS: SNS{Path: DefaultSNSPath},
		},
	}
}

// WindowFor returns the maintenance window the file gives the named fleet:
// its own from Rollouts.FleetWindows, or else Rollouts.Window. (A
// MaintenanceWindow tag on the fleet overrides both; the rollout controller
// reads it.)
func (c Config) WindowFor(fleet string) window.Window {
	if w, ok := c.Rollouts.FleetWindows[fleet]; ok {
		return w.Window
	}
	return c.Rollouts.Window.Window
}

// SMTPPassword returns the SMTP password from the environment variable named
// by Email.SMTP.PasswordEnv, or "" if it names none.
func (n Notify) SMTPPassword() string { return getenv(n.Email.SMTP.PasswordEnv) }

// WebhookSecret returns the webhook signing secret from the environment
// variable named by WebhookSecretEnv, or "" if it names none.
func (n Notify) WebhookSecret() string { return getenv(n.WebhookSecretEnv) }

func getenv(name string) string {
	if name == "" {
		return ""
	}
	return os.Getenv(name)
}

// Session is the RoleSessionName the target's AssumeRole calls give.
func (t Target) Session() string {
	if t.SessionName == "" {
		return DefaultSessionName
	}
	return t.SessionName
}
