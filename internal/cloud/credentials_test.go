package cloud_test

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/deskpilot/deskpilot/internal/cloud"
	"github.com/deskpilot/deskpilot/sim"
)

// roleWorld is an emulator whose account 111111111111 has a role the root account may assume
// with an external id, and a client config signed with the root account's key.
func roleWorld(t *testing.T) (*sim.Sim, *sim.ManualClock, aws.Config) {
	t.Helper()
	clock := sim.NewManualClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	s := sim.New(sim.Options{Clock: clock, Accounts: []sim.Account{{ID: "111111111111",
		Roles: []sim.Role{{Name: "deskpilot", TrustedAccounts: []string{"123456789012"}, ExternalID: "ext-1"}}}}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithRegion("us-east-1"), awsconfig.WithBaseEndpoint(srv.URL),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	if err != nil {
		t.Fatal(err)
	}
	return s, clock, cfg
}

var role = cloud.Role{ARN: "arn:aws:iam::111111111111:role/deskpilot", ExternalID: "ext-1", SessionName: "deskpilot-test"}

// The credentials are cached on the daemon's clock and renewed RefreshBefore they expire; an
// expiry AWS reports early drops them; an STS failure while they still work keeps them.
func TestRoleCredentials(t *testing.T) {
	s, clock, base := roleWorld(t)
	creds := cloud.NewRoleCredentials(sts.NewFromConfig(base), role, clock.Now)
	ctx := t.Context()

	first, err := creds.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := creds.Expires(), clock.Now().Add(cloud.RoleSession); !got.Equal(want) {
		t.Errorf("expires %s, want %s", got, want)
	}
	// Signed with them, a call is the role's account's.
	cfg := base.Copy()
	cfg.Credentials = creds
	cfg.APIOptions = append(cfg.APIOptions, cloud.InvalidateOnExpiry(creds))
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != "111111111111" || aws.ToString(id.Arn) != "arn:aws:sts::111111111111:assumed-role/deskpilot/deskpilot-test" {
		t.Errorf("caller %s %s", aws.ToString(id.Account), aws.ToString(id.Arn))
	}

	steps := []struct {
		name    string
		advance time.Duration
		act     func()
		// renewed: a new AssumeRole call was made.
		renewed bool
		wantErr bool
	}{
		{name: "well before the expiry: cached", advance: 30 * time.Minute},
		{name: "within RefreshBefore of the expiry: renewed", advance: 26 * time.Minute, renewed: true},
		{name: "STS fails while the credentials still work: kept", advance: 56 * time.Minute, act: func() {
			if err := s.AddFault(sim.Fault{Service: sim.ServiceSTS, Operation: "AssumeRole", ErrorCode: "ServiceUnavailable", Count: 1}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the next attempt renews", renewed: true},
		{name: "revoked early: the call fails, the cache is dropped", act: func() {
			if n := s.ExpireCredentials("111111111111"); n == 0 {
				t.Fatal("nothing to expire")
			}
			if _, err := appstream.NewFromConfig(cfg).DescribeFleets(ctx, &appstream.DescribeFleetsInput{}); !cloud.CredentialsExpired(err) {
				t.Fatalf("a call with revoked credentials: %v, want them refused as expired", err)
			}
		}, renewed: true},
		{name: "STS fails after the expiry: an error naming the role", advance: 2 * time.Hour, act: func() {
			if err := s.AddFault(sim.Fault{Service: sim.ServiceSTS, Operation: "AssumeRole", ErrorCode: "AccessDenied", Count: 1}); err != nil {
				t.Fatal(err)
			}
		}, wantErr: true},
	}
	prev, refreshes := first, creds.Refreshes()
	for _, st := range steps {
		clock.Advance(st.advance)
		if st.act != nil {
			st.act()
		}
		got, err := creds.Retrieve(ctx)
		if st.wantErr {
			are, ok := errors.AsType[*cloud.AssumeRoleError](err)
			if !ok || are.Role != role.ARN {
				t.Errorf("%s: %v, want an AssumeRoleError for %s", st.name, err, role.ARN)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		renewed := creds.Refreshes() > refreshes
		if renewed != st.renewed || (got.AccessKeyID != prev.AccessKeyID) != st.renewed {
			t.Errorf("%s: renewed %v (key %s → %s), want %v", st.name, renewed, prev.AccessKeyID, got.AccessKeyID, st.renewed)
		}
		prev, refreshes = got, creds.Refreshes()
	}
}

// A role that does not trust the caller, or an external id that does not match, is refused
// with an error naming the role, and nothing is cached.
func TestRoleCredentials_refused(t *testing.T) {
	_, clock, base := roleWorld(t)
	for _, r := range []cloud.Role{
		{ARN: role.ARN, SessionName: "deskpilot"},                               // no external id
		{ARN: role.ARN, ExternalID: "wrong", SessionName: "deskpilot"},          // the wrong one
		{ARN: "arn:aws:iam::111111111111:role/other", SessionName: "deskpilot"}, // no such role
	} {
		creds := cloud.NewRoleCredentials(sts.NewFromConfig(base), r, clock.Now)
		if _, err := creds.Retrieve(t.Context()); err == nil {
			t.Errorf("%+v: assumed, want refused", r)
		}
		if !creds.Expires().IsZero() || creds.Refreshes() != 0 {
			t.Errorf("%+v: cached after a refusal", r)
		}
	}
}

func TestQueueURLParts(t *testing.T) {
	tests := []struct {
		url, account, region string
		ok                   bool
	}{
		{"https://sqs.eu-central-1.amazonaws.com/111111111111/deskpilot-events", "111111111111", "eu-central-1", true},
		{"https://eu-west-1.queue.amazonaws.com/222222222222/q", "222222222222", "eu-west-1", true},
		{"http://127.0.0.1:4566/123456789012/deskpilot-events", "123456789012", "", true},
		{"https://sqs.us-east-1.amazonaws.com/deskpilot-events", "", "", false},
		{"https://sqs.us-east-1.amazonaws.com/12345678901x/q", "", "", false},
		{"::not a url", "", "", false},
	}
	for _, tt := range tests {
		account, region, ok := cloud.QueueURLParts(tt.url)
		if account != tt.account || region != tt.region || ok != tt.ok {
			t.Errorf("QueueURLParts(%q) = %q, %q, %v; want %q, %q, %v", tt.url, account, region, ok, tt.account, tt.region, tt.ok)
		}
	}
}
