package cloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// RefreshBefore is how long before its credentials expire an assumed role is assumed again.
// AWS's own SDKs refresh about this early, so that a call signed just before the expiry does
// not arrive just after it.
const RefreshBefore = 5 * time.Minute

// RoleSession is how long an assumed role's credentials last (AssumeRole's DurationSeconds):
// the default of AWS and of every role's MaxSessionDuration.
const RoleSession = time.Hour

// Role names an IAM role to assume.
type Role struct {
	ARN         string
	ExternalID  string
	SessionName string
}

// RoleCredentials are the temporary credentials of an assumed role, assumed again RefreshBefore
// they expire. It caches on the daemon's clock, not the SDK's (which reads the wall clock that a
// test's simulated hours do not move), so it is given to the SDK as the credentials provider
// itself, without the SDK's cache around it. Safe for concurrent use.
type RoleCredentials struct {
	role     Role
	provider aws.CredentialsProvider
	now      func() time.Time

	mu    sync.Mutex
	creds aws.Credentials
	// refreshes counts AssumeRole calls that succeeded.
	refreshes int
}

// AssumeRoleAPI is the STS call RoleCredentials makes (sts.Client).
type AssumeRoleAPI = stscreds.AssumeRoleAPIClient

// NewRoleCredentials returns credentials of role, assumed through api (an STS client signed
// with deskpilot's own credentials), on the clock now.
func NewRoleCredentials(api AssumeRoleAPI, role Role, now func() time.Time) *RoleCredentials {
	p := stscreds.NewAssumeRoleProvider(api, role.ARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = role.SessionName
		o.Duration = RoleSession
		if role.ExternalID != "" {
			o.ExternalID = aws.String(role.ExternalID)
		}
	})
	return &RoleCredentials{role: role, provider: p, now: now}
}

// Retrieve implements aws.CredentialsProvider: the cached credentials while they have more
// than RefreshBefore left, else the role assumed again. When assuming fails while the old
// credentials still work, they are used until they expire: an STS hiccup costs nothing.
func (c *RoleCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.creds.HasKeys() && now.Before(c.creds.Expires.Add(-RefreshBefore)) {
		return c.creds, nil
	}
	fresh, err := c.provider.Retrieve(ctx)
	if err != nil {
		if c.creds.HasKeys() && now.Before(c.creds.Expires) {
			return c.creds, nil
		}
		return aws.Credentials{}, &AssumeRoleError{Role: c.role.ARN, Err: err}
	}
	c.creds = fresh
	c.refreshes++
	return fresh, nil
}

// Invalidate forgets the cached credentials, so the next call assumes the role again (AWS said
// they expired or are no longer valid before their time).
func (c *RoleCredentials) Invalidate() {
	c.mu.Lock()
	c.creds = aws.Credentials{}
	c.mu.Unlock()
}

// Expires is when the cached credentials expire (zero: none cached).
func (c *RoleCredentials) Expires() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.creds.HasKeys() {
		return time.Time{}
	}
	return c.creds.Expires
}

// Refreshes counts the times the role was assumed.
func (c *RoleCredentials) Refreshes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshes
}

// AssumeRoleError says that a role could not be assumed; Err is STS's answer.
type AssumeRoleError struct {
	Role string
	Err  error
}

func (e *AssumeRoleError) Error() string { return fmt.Sprintf("assume role %s: %v", e.Role, e.Err) }
func (e *AssumeRoleError) Unwrap() error { return e.Err }

// invalidCredentialCodes are the errors with which AWS refuses credentials that were good when
// they were issued: they expired early (a revoked session) or were never valid there.
var invalidCredentialCodes = map[string]bool{
	"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
	"UnrecognizedClientException": true,
}

// CredentialsExpired reports whether err is AWS refusing the credentials as expired or invalid.
func CredentialsExpired(err error) bool {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return invalidCredentialCodes[ae.ErrorCode()]
	}
	return false
}

// InvalidateOnExpiry is SDK middleware that drops creds' cache when AWS answers that the
// credentials expired, so that the next call assumes the role again rather than failing until
// the cached expiry passes.
func InvalidateOnExpiry(creds *RoleCredentials) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("deskpilot.InvalidateOnExpiry", func(
			ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler,
		) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil && CredentialsExpired(err) {
				creds.Invalidate()
			}
			return out, md, err
		}), middleware.After)
	}
}
