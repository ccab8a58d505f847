package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim"
)

const (
	rootAccount  = "123456789012"
	otherAccount = "222222222222"
	thirdAccount = "333333333333"
	otherKey     = "AKIA2222222222222222"
	deniedRegion = "ap-south-1"
)

// accountsFixture declares two accounts besides the root: 222222222222 with a long-term key,
// roles the root account may assume and a denied region, and 333333333333 with a role nobody
// here may assume.
var accountsFixture = []sim.Account{
	{ID: rootAccount, Roles: []sim.Role{{Name: "root-ops", TrustedAccounts: []string{otherAccount}}}},
	{
		ID: otherAccount, AccessKeys: []string{otherKey},
		Roles: []sim.Role{
			{Name: "deskpilot", TrustedAccounts: []string{rootAccount}},
			{Name: "with-external-id", TrustedAccounts: []string{rootAccount}, ExternalID: "ext-1"},
			{Name: "long", TrustedAccounts: []string{rootAccount}, MaxSessionDuration: 7200},
			{Name: "chained", TrustedAccounts: []string{otherAccount}},
		},
		DeniedRegions: []string{deniedRegion},
	},
	{ID: thirdAccount, Roles: []sim.Role{{Name: "private", TrustedAccounts: []string{"444444444444"}}}},
}

// multiEnv is an emulator with accountsFixture declared, on a manual clock that starts at the
// wall clock's second (so that the SDK's credential cache, which uses the wall clock, keeps
// the temporary credentials until the test expires them by moving the emulator's clock).
type multiEnv struct {
	t     *testing.T
	ctx   context.Context
	sim   *sim.Sim
	clock *sim.ManualClock
	url   string
}

func newMultiEnv(t *testing.T) *multiEnv {
	t.Helper()
	clock := sim.NewManualClock(time.Now().UTC().Truncate(time.Second))
	s := sim.New(sim.Options{Clock: clock, RandSeed: 7, Accounts: accountsFixture})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.SetBaseURL(srv.URL)
	return &multiEnv{t: t, ctx: context.Background(), sim: s, clock: clock, url: srv.URL}
}

// cfg is an SDK configuration signing for region with the given credentials.
func (e *multiEnv) cfg(region string, creds aws.CredentialsProvider) aws.Config {
	e.t.Helper()
	cfg, err := config.LoadDefaultConfig(e.ctx, config.WithRegion(region), config.WithBaseEndpoint(e.url),
		config.WithCredentialsProvider(creds), config.WithRetryer(fastRetries(1)))
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

func static(key string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(key, "secret", "")
}

// role is the provider that assumes account's role name as the root account's user (or as
// the caller creds gives), cached as applications cache it.
func (e *multiEnv) role(region, account, name string, opts ...func(*stscreds.AssumeRoleOptions)) aws.CredentialsProvider {
	return e.roleAs(static("AKIDEXAMPLE"), region, account, name, opts...)
}

func (e *multiEnv) roleAs(caller aws.CredentialsProvider, region, account, name string, opts ...func(*stscreds.AssumeRoleOptions)) aws.CredentialsProvider {
	client := sts.NewFromConfig(e.cfg(region, caller))
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, "arn:aws:iam::"+account+":role/"+name, opts...))
}

func (e *multiEnv) appstream(region string, creds aws.CredentialsProvider) *appstream.Client {
	return appstream.NewFromConfig(e.cfg(region, creds))
}

// control calls the control API and decodes the answer into out (when not nil).
func (e *multiEnv) control(method, path, body string, wantStatus int, out any) string {
	e.t.Helper()
	status, raw := controlRaw(e.t, method, e.url+path, body)
	if status != wantStatus {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, status, raw, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return string(raw)
}

// apiError returns the code, message and HTTP status of an SDK error.
func apiError(err error) (code, message string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, message = ae.ErrorCode(), ae.ErrorMessage()
	} else if err != nil {
		code = "non-API error: " + err.Error()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, message, status
}

func privateImages(t *testing.T, ctx context.Context, c *appstream.Client) []string {
	t.Helper()
	out, err := c.DescribeImages(ctx, &appstream.DescribeImagesInput{Type: astypes.VisibilityTypePrivate})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, img := range out.Images {
		arns = append(arns, aws.ToString(img.Arn))
	}
	return arns
}

func TestAccounts_WorldsAreSeparate(t *testing.T) {
	e := newMultiEnv(t)
	worlds := []struct {
		name            string
		account, region string
		creds           aws.CredentialsProvider
	}{
		{"root user, root region", rootAccount, "us-east-1", static("AKIDEXAMPLE")},
		{"root user, eu-west-1", rootAccount, "eu-west-1", static("test")},
		{"long-term key of 222222222222, us-east-1", otherAccount, "us-east-1", static(otherKey)},
		{"role of 222222222222, eu-west-1", otherAccount, "eu-west-1", e.role("eu-west-1", otherAccount, "deskpilot")},
	}
	// Each world gets one image: through the Go API for the first two, the control API for the others.
	for i, w := range worlds {
		name := "img-" + strings.ReplaceAll(w.name, " ", "")[:8] + string(rune('a'+i))
		if i < 2 {
			if _, err := e.sim.World(w.account, w.region).CreateImage(sim.ImageSpec{Name: name}); err != nil {
				t.Fatal(err)
			}
		} else {
			e.control("POST", "/_sim/accounts/"+w.account+"/regions/"+w.region+"/appstream/images", `{"Name": "`+name+`"}`, 201, nil)
		}
	}
	for i, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			c := e.appstream(w.region, w.creds)
			name := "img-" + strings.ReplaceAll(w.name, " ", "")[:8] + string(rune('a'+i))
			want := []string{"arn:aws:appstream:" + w.region + ":" + w.account + ":image/" + name}
			if diff := cmp.Diff(want, privateImages(t, e.ctx, c)); diff != "" {
				t.Errorf("private images (-want +got):\n%s", diff)
			}
			_, err := c.CreateFleet(e.ctx, &appstream.CreateFleetInput{
				Name: aws.String("fleet-1"), InstanceType: aws.String("stream.standard.small"), ImageName: aws.String(name),
				FleetType: astypes.FleetTypeAlwaysOn, ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(1)},
			})
			if err != nil {
				t.Fatalf("CreateFleet: %v", err)
			}
			out, err := c.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
			if err != nil || len(out.Fleets) != 1 {
				t.Fatalf("DescribeFleets: %v %v", out, err)
			}
			if got, want := aws.ToString(out.Fleets[0].Arn), "arn:aws:appstream:"+w.region+":"+w.account+":fleet/fleet-1"; got != want {
				t.Errorf("fleet ARN %s, want %s", got, want)
			}
			calls := e.sim.World(w.account, w.region).Calls()
			if calls.Counts["appstream.CreateFleet"] != 1 {
				t.Errorf("world's call counts %v, want one CreateFleet", calls.Counts)
			}
		})
	}
	if got := e.sim.World(rootAccount, "us-east-1"); got != e.sim {
		t.Error("World(root account, root region) is not the root")
	}
}

func TestAssumeRole_CallerIdentity(t *testing.T) {
	e := newMultiEnv(t)
	tests := []struct {
		name                  string
		creds                 aws.CredentialsProvider
		account, arn, idStart string
	}{
		{"unknown key", static("AKID"), rootAccount, "arn:aws:iam::123456789012:user/deskpilot-sim", "AIDA"},
		{"declared key", static(otherKey), otherAccount, "arn:aws:iam::222222222222:user/deskpilot-sim", "AIDA"},
		{"assumed role", e.role("us-east-1", otherAccount, "deskpilot", func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "alice@example.com" }),
			otherAccount, "arn:aws:sts::222222222222:assumed-role/deskpilot/alice@example.com", "AROA"},
		{"role of the root account, assumed from 222222222222", e.roleAs(static(otherKey), "eu-west-1", rootAccount, "root-ops", func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "s1" }),
			rootAccount, "arn:aws:sts::123456789012:assumed-role/root-ops/s1", "AROA"},
		{"role chaining", e.roleAs(e.role("us-east-1", otherAccount, "deskpilot"), "us-east-1", otherAccount, "chained", func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "s2" }),
			otherAccount, "arn:aws:sts::222222222222:assumed-role/chained/s2", "AROA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := sts.NewFromConfig(e.cfg("us-east-1", tt.creds)).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got := []string{aws.ToString(out.Account), aws.ToString(out.Arn)}; !slices.Equal(got, []string{tt.account, tt.arn}) {
				t.Errorf("identity %v, want %s %s", got, tt.account, tt.arn)
			}
			id := aws.ToString(out.UserId)
			if !strings.HasPrefix(id, tt.idStart) || len(strings.SplitN(id, ":", 2)[0]) != 21 {
				t.Errorf("UserId %q, want %s and 17 characters", id, tt.idStart)
			}
			if tt.idStart == "AROA" && !strings.HasSuffix(id, ":"+tt.arn[strings.LastIndex(tt.arn, "/")+1:]) {
				t.Errorf("UserId %q does not end with the session name", id)
			}
		})
	}
}

func TestAssumeRole_Credentials(t *testing.T) {
	e := newMultiEnv(t)
	client := sts.NewFromConfig(e.cfg("us-east-1", static("AKIDEXAMPLE")))
	out, err := client.AssumeRole(e.ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::222222222222:role/long"), RoleSessionName: aws.String("deploy"), DurationSeconds: aws.Int32(7200),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if k := aws.ToString(c.AccessKeyId); len(k) != 20 || !strings.HasPrefix(k, "ASIA") {
		t.Errorf("AccessKeyId %q, want ASIA and 16 characters", k)
	}
	if aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" {
		t.Error("no secret key or session token")
	}
	if want := e.clock.Now().Add(2 * time.Hour); !aws.ToTime(c.Expiration).Equal(want) {
		t.Errorf("Expiration %v, want %v", aws.ToTime(c.Expiration), want)
	}
	u := out.AssumedRoleUser
	if aws.ToString(u.Arn) != "arn:aws:sts::222222222222:assumed-role/long/deploy" || !strings.HasPrefix(aws.ToString(u.AssumedRoleId), "AROA") ||
		!strings.HasSuffix(aws.ToString(u.AssumedRoleId), ":deploy") {
		t.Errorf("AssumedRoleUser %s %s", aws.ToString(u.Arn), aws.ToString(u.AssumedRoleId))
	}
	if out.PackedPolicySize != nil {
		t.Errorf("PackedPolicySize %d, want none (no policies passed)", *out.PackedPolicySize)
	}
	if n := e.sim.CountCalls("sts", "AssumeRole"); n != 1 {
		t.Errorf("root world counted %d AssumeRole calls, want 1", n)
	}
}

func TestAssumeRole_Refused(t *testing.T) {
	e := newMultiEnv(t)
	user := "arn:aws:iam::123456789012:user/deskpilot-sim"
	denied := func(caller, role string) string {
		return "User: " + caller + " is not authorized to perform: sts:AssumeRole on resource: " + role
	}
	tests := []struct {
		name     string
		caller   aws.CredentialsProvider
		in       sts.AssumeRoleInput
		code     string
		status   int
		message  string // "" for any
		contains string
	}{
		{"untrusted account", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::333333333333:role/private")},
			"AccessDenied", 403, denied(user, "arn:aws:iam::333333333333:role/private"), ""},
		{"unknown role", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/nope")},
			"AccessDenied", 403, denied(user, "arn:aws:iam::222222222222:role/nope"), ""},
		{"unknown account", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::999999999999:role/deskpilot")},
			"AccessDenied", 403, denied(user, "arn:aws:iam::999999999999:role/deskpilot"), ""},
		{"missing ExternalId", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/with-external-id")},
			"AccessDenied", 403, denied(user, "arn:aws:iam::222222222222:role/with-external-id"), ""},
		{"wrong ExternalId", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/with-external-id"), ExternalId: aws.String("ext-2")},
			"AccessDenied", 403, denied(user, "arn:aws:iam::222222222222:role/with-external-id"), ""},
		{"own account not trusted", static(otherKey), sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/deskpilot")},
			"AccessDenied", 403, denied("arn:aws:iam::222222222222:user/deskpilot-sim", "arn:aws:iam::222222222222:role/deskpilot"), ""},
		{"bad session name", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/deskpilot"), RoleSessionName: aws.String("a b")},
			"ValidationError", 400, "", "at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"short session name", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/deskpilot"), RoleSessionName: aws.String("a")},
			"ValidationError", 400, "", "Member must have length greater than or equal to 2"},
		{"duration under 900", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/deskpilot"), DurationSeconds: aws.Int32(899)},
			"ValidationError", 400, "", "Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{"duration over the role's maximum", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/deskpilot"), DurationSeconds: aws.Int32(3601)},
			"ValidationError", 400, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", ""},
		{"chained over an hour", e.role("us-east-1", otherAccount, "deskpilot"), sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/chained"), DurationSeconds: aws.Int32(3601)},
			"ValidationError", 400, "The requested DurationSeconds exceeds the 1 hour session limit for roles assuming other roles.", ""},
		{"malformed role ARN", nil, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:user/deskpilot")},
			"ValidationError", 400, "arn:aws:iam::222222222222:user/deskpilot is not a valid IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller := tt.caller
			if caller == nil {
				caller = static("AKIDEXAMPLE")
			}
			in := tt.in
			if in.RoleSessionName == nil {
				in.RoleSessionName = aws.String("session-1")
			}
			_, err := sts.NewFromConfig(e.cfg("us-east-1", caller)).AssumeRole(e.ctx, &in)
			code, message, status := apiError(err)
			if code != tt.code || status != tt.status {
				t.Fatalf("error %s %d (%s), want %s %d", code, status, message, tt.code, tt.status)
			}
			if tt.message != "" && message != tt.message {
				t.Errorf("message %q\nwant    %q", message, tt.message)
			}
			if !strings.Contains(message, tt.contains) {
				t.Errorf("message %q does not contain %q", message, tt.contains)
			}
		})
	}
	if n := e.sim.Calls().Counts["sts.AssumeRole!AccessDenied"]; n < 5 {
		t.Errorf("the root world logged %d refused AssumeRole calls, want at least 5", n)
	}
}

func TestCredentials_Expire(t *testing.T) {
	e := newMultiEnv(t)
	describe := func(c *appstream.Client) (string, int) {
		_, err := c.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
		code, _, status := apiError(err)
		return code, status
	}
	c := e.appstream("us-east-1", e.role("us-east-1", otherAccount, "deskpilot"))
	if code, _ := describe(c); code != "" {
		t.Fatalf("DescribeFleets with fresh credentials: %s", code)
	}
	// stscreds asks for 15 minutes unless told otherwise.
	e.clock.Advance(14 * time.Minute)
	if code, _ := describe(c); code != "" {
		t.Fatalf("DescribeFleets a minute before expiry: %s", code)
	}
	e.clock.Advance(time.Minute)
	if code, status := describe(c); code != "ExpiredTokenException" || status != 400 {
		t.Errorf("DescribeFleets at expiry: %s %d, want ExpiredTokenException 400", code, status)
	}
	// New credentials work again.
	_, err := sts.NewFromConfig(e.cfg("us-east-1", e.role("us-east-1", otherAccount, "deskpilot"))).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with new credentials: %v", err)
	}

	// ExpireCredentials, and its control endpoint, expire every credential of the account.
	c1 := e.appstream("us-east-1", e.role("us-east-1", otherAccount, "deskpilot"))
	c2 := e.appstream("eu-west-1", e.role("eu-west-1", otherAccount, "long"))
	stsClient := sts.NewFromConfig(e.cfg("us-east-1", e.role("us-east-1", otherAccount, "deskpilot")))
	for _, c := range []*appstream.Client{c1, c2} {
		if code, _ := describe(c); code != "" {
			t.Fatalf("DescribeFleets: %s", code)
		}
	}
	if _, err := stsClient.GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.ExpireCredentials(thirdAccount); n != 0 {
		t.Errorf("ExpireCredentials(333333333333) = %d, want 0", n)
	}
	var out struct{ Expired int }
	e.control("POST", "/_sim/sts/expire", `{"Account": "222222222222"}`, 200, &out)
	if out.Expired != 4 { // the one GetCallerIdentity used above, c1, c2 and stsClient's
		t.Errorf("Expired = %d, want 4", out.Expired)
	}
	for _, c := range []*appstream.Client{c1, c2} {
		if code, status := describe(c); code != "ExpiredTokenException" || status != 400 {
			t.Errorf("DescribeFleets after ExpireCredentials: %s %d, want ExpiredTokenException 400", code, status)
		}
	}
	_, err = stsClient.GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
	if code, msg, status := apiError(err); code != "ExpiredToken" || status != 403 || msg != "The security token included in the request is expired" {
		t.Errorf("GetCallerIdentity after ExpireCredentials: %s %d %q, want ExpiredToken 403", code, status, msg)
	}
	if n := e.sim.World(otherAccount, "eu-west-1").Calls().Counts["appstream.DescribeFleets!ExpiredTokenException"]; n != 1 {
		t.Errorf("eu-west-1 world logged %d expired DescribeFleets, want 1", n)
	}
	e.control("POST", "/_sim/sts/expire", `{"Account": "22"}`, 400, nil)
}

func TestCredentials_WrongSessionToken(t *testing.T) {
	e := newMultiEnv(t)
	creds, err := e.role("us-east-1", otherAccount, "deskpilot").Retrieve(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"", "forged"} {
		c := e.appstream("us-east-1", credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, token))
		_, err := c.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
		if code, msg, status := apiError(err); code != "UnrecognizedClientException" || status != 403 || msg != "The security token included in the request is invalid." {
			t.Errorf("token %q: %s %d %q, want UnrecognizedClientException 403", token, code, status, msg)
		}
		_, err = sts.NewFromConfig(e.cfg("us-east-1", credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, token))).
			GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
		if code, _, status := apiError(err); code != "InvalidClientTokenId" || status != 403 {
			t.Errorf("token %q, STS: %s %d, want InvalidClientTokenId 403", token, code, status)
		}
	}
}

func TestSCP_DeniedRegion(t *testing.T) {
	e := newMultiEnv(t)
	user := "arn:aws:iam::222222222222:user/deskpilot-sim"
	deny := func(caller, action string) string {
		return "User: " + caller + " is not authorized to perform: " + action + " on resource: * with an explicit deny in a service control policy"
	}
	roleCreds := e.role(deniedRegion, otherAccount, "deskpilot", func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "s1" })
	tests := []struct {
		name    string
		call    func(aws.Config) error
		creds   aws.CredentialsProvider
		code    string
		status  int
		message string
	}{
		{"AppStream", func(cfg aws.Config) error {
			_, err := appstream.NewFromConfig(cfg).DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
			return err
		}, static(otherKey), "AccessDeniedException", 400, deny(user, "appstream:DescribeFleets")},
		{"AppStream as an assumed role", func(cfg aws.Config) error {
			_, err := appstream.NewFromConfig(cfg).DescribeStacks(e.ctx, &appstream.DescribeStacksInput{})
			return err
		}, roleCreds, "AccessDeniedException", 400, deny("arn:aws:sts::222222222222:assumed-role/deskpilot/s1", "appstream:DescribeStacks")},
		{"Application Auto Scaling", func(cfg aws.Config) error {
			_, err := applicationautoscaling.NewFromConfig(cfg).DescribeScalableTargets(e.ctx, &applicationautoscaling.DescribeScalableTargetsInput{
				ServiceNamespace: aastypes.ServiceNamespaceAppstream})
			return err
		}, static(otherKey), "AccessDeniedException", 400, deny(user, "application-autoscaling:DescribeScalableTargets")},
		{"SQS", func(cfg aws.Config) error {
			_, err := sqs.NewFromConfig(cfg).ListQueues(e.ctx, &sqs.ListQueuesInput{})
			return err
		}, static(otherKey), "AccessDenied", 403, deny(user, "sqs:ListQueues")},
		{"STS is not denied", func(cfg aws.Config) error {
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
			return err
		}, static(otherKey), "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(e.cfg(deniedRegion, tt.creds))
			code, message, status := apiError(err)
			if code != tt.code || (tt.code != "" && (status != tt.status || message != tt.message)) {
				t.Errorf("got %s %d %q\nwant %s %d %q", code, status, message, tt.code, tt.status, tt.message)
			}
		})
	}
	calls := e.sim.World(otherAccount, deniedRegion).Calls()
	for _, k := range []string{"appstream.DescribeFleets!AccessDeniedException", "application-autoscaling.DescribeScalableTargets!AccessDeniedException", "sqs.ListQueues!AccessDenied"} {
		if calls.Counts[k] != 1 {
			t.Errorf("the denied world's call counts %v lack %s", calls.Counts, k)
		}
	}
	// The same account elsewhere, and other accounts in that region, are not denied.
	for _, w := range []struct {
		region string
		creds  aws.CredentialsProvider
	}{{"us-east-1", static(otherKey)}, {deniedRegion, static("AKIDEXAMPLE")}} {
		if _, err := e.appstream(w.region, w.creds).DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{}); err != nil {
			t.Errorf("DescribeFleets in %s: %v", w.region, err)
		}
	}
}

func TestAccounts_RootUnchangedForUnknownKeys(t *testing.T) {
	e := newMultiEnv(t)
	for _, key := range []string{"test", "AKID", "AKIDEXAMPLE", "ASIAUNKNOWN0000000000"} {
		c := e.appstream("us-east-1", static(key))
		if _, err := c.CreateStack(e.ctx, &appstream.CreateStackInput{Name: aws.String("stack-" + key)}); err != nil {
			t.Fatalf("key %s: %v", key, err)
		}
	}
	// Unsigned: a plain HTTP request.
	req, _ := http.NewRequest("POST", e.url, strings.NewReader(`{"Name": "stack-unsigned"}`))
	req.Header.Set("X-Amz-Target", "PhotonAdminProxyService.CreateStack")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unsigned CreateStack: %d", resp.StatusCode)
	}
	if n := e.sim.CountCalls("appstream", "CreateStack"); n != 5 {
		t.Errorf("root world counted %d CreateStack calls, want 5", n)
	}
	var worlds []string
	for _, a := range e.sim.Accounts() {
		worlds = append(worlds, a.ID)
	}
	if diff := cmp.Diff([]string{rootAccount, otherAccount, thirdAccount}, worlds); diff != "" {
		t.Errorf("Accounts() (-want +got):\n%s", diff)
	}
}

func TestAccounts_PresignedCredential(t *testing.T) {
	e := newMultiEnv(t)
	form := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
	q := url.Values{"X-Amz-Credential": {otherKey + "/20261203/eu-west-1/sts/aws4_request"}, "X-Amz-Algorithm": {"AWS4-HMAC-SHA256"}}
	resp, err := http.Post(e.url+"/?"+q.Encode(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "<Account>222222222222</Account>") {
		t.Errorf("presigned GetCallerIdentity: %s", body)
	}
	if n := e.sim.World(otherAccount, "eu-west-1").CountCalls("sts", "GetCallerIdentity"); n != 1 {
		t.Errorf("the eu-west-1 world of 222222222222 counted %d calls, want 1", n)
	}
}

func TestAccounts_BadSigningRegion(t *testing.T) {
	e := newMultiEnv(t)
	req, _ := http.NewRequest("POST", e.url, strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "PhotonAdminProxyService.DescribeFleets")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261203/Mars/appstream/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
		t.Errorf("bad region: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}

func TestControl_Accounts(t *testing.T) {
	e := newMultiEnv(t)
	var stored sim.Account
	e.control("POST", "/_sim/accounts", `{"Id": "555555555555", "AccessKeys": ["AKIA5555555555555555"], "Roles": [{"RoleName": "r1", "TrustedAccounts": ["123456789012"]}]}`, 200, &stored)
	want := sim.Account{ID: "555555555555", AccessKeys: []string{"AKIA5555555555555555"},
		Roles: []sim.Role{{Name: "r1", TrustedAccounts: []string{rootAccount}, MaxSessionDuration: 3600}}}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored account (-want +got):\n%s", diff)
	}
	before := e.control("GET", "/_sim/accounts", "", 200, nil)
	bad := []struct{ name, body, contains string }{
		{"id", `{"Id": "12"}`, "Id must be 12 digits"},
		{"role name", `{"Id": "555555555555", "Roles": [{"RoleName": "a b", "TrustedAccounts": []}]}`, "RoleName"},
		{"duplicate role", `{"Id": "555555555555", "Roles": [{"RoleName": "a", "TrustedAccounts": []}, {"RoleName": "a", "TrustedAccounts": []}]}`, "declared twice"},
		{"trusted account", `{"Id": "555555555555", "Roles": [{"RoleName": "a", "TrustedAccounts": ["x"]}]}`, "TrustedAccounts"},
		{"max session", `{"Id": "555555555555", "Roles": [{"RoleName": "a", "TrustedAccounts": [], "MaxSessionDuration": 100}]}`, "MaxSessionDuration"},
		{"external id", `{"Id": "555555555555", "Roles": [{"RoleName": "a", "TrustedAccounts": [], "ExternalId": "x"}]}`, "ExternalId"},
		{"region", `{"Id": "555555555555", "DeniedRegions": ["moon"]}`, "not a region name"},
		{"key", `{"Id": "555555555555", "AccessKeys": ["short"]}`, "access key"},
		{"key of another account", `{"Id": "555555555555", "AccessKeys": ["` + otherKey + `"]}`, "already belongs to account 222222222222"},
		{"unknown member", `{"Id": "555555555555", "Bogus": 1}`, "unknown field"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			body := e.control("POST", "/_sim/accounts", tt.body, 400, nil)
			if !strings.Contains(body, tt.contains) {
				t.Errorf("error %s does not contain %q", body, tt.contains)
			}
		})
	}
	if after := e.control("GET", "/_sim/accounts", "", 200, nil); after != before {
		t.Errorf("a refused POST changed the accounts:\n%s\nthen\n%s", before, after)
	}

	// Per-world control API.
	w := "/_sim/accounts/222222222222/regions/eu-west-1"
	var info struct{ AccountId, Region string }
	e.control("GET", w+"/", "", 200, &info)
	if info.AccountId != otherAccount || info.Region != "eu-west-1" {
		t.Errorf("GET %s/: %+v", w, info)
	}
	var img struct{ Arn string }
	e.control("POST", w+"/appstream/images", `{"Name": "img-1"}`, 201, &img)
	if img.Arn != "arn:aws:appstream:eu-west-1:222222222222:image/img-1" {
		t.Errorf("image ARN %s", img.Arn)
	}
	e.control("POST", w+"/faults", `{"Service": "appstream", "Operation": "DescribeImages", "ErrorCode": "ThrottlingException"}`, 201, nil)
	c := e.appstream("eu-west-1", static(otherKey))
	if _, err := c.DescribeImages(e.ctx, &appstream.DescribeImagesInput{}); errorCode(err) != "ThrottlingException" {
		t.Errorf("DescribeImages in the faulted world: %v", err)
	}
	if _, err := e.appstream("us-east-1", static(otherKey)).DescribeImages(e.ctx, &appstream.DescribeImagesInput{}); err != nil {
		t.Errorf("DescribeImages in another world: %v", err)
	}
	var calls sim.CallReport
	e.control("GET", w+"/calls", "", 200, &calls)
	if calls.Counts["appstream.DescribeImages!ThrottlingException"] != 1 || calls.Total != 1 {
		t.Errorf("world calls %v", calls.Counts)
	}
	e.control("GET", "/_sim/calls", "", 200, &calls)
	if calls.Total != 0 {
		t.Errorf("root world calls %v, want none", calls.Counts)
	}
	// Event targets are per world: a queue of the world, by its URL.
	sq := sqs.NewFromConfig(e.cfg("eu-west-1", static(otherKey)))
	q, err := sq.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("events")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(q.QueueUrl), "/222222222222/events") {
		t.Errorf("queue URL %s", aws.ToString(q.QueueUrl))
	}
	e.control("POST", w+"/events/targets", `{"QueueUrl": "`+aws.ToString(q.QueueUrl)+`"}`, 200, nil)
	e.control("POST", "/_sim/events/targets", `{"QueueUrl": "`+aws.ToString(q.QueueUrl)+`"}`, 400, nil)

	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/_sim/accounts/999999999999/regions/eu-west-1/calls", 404},
		{"/_sim/accounts/222222222222/regions/Mars/calls", 400},
		{"/_sim/accounts/222222222222/regions/eu-west-1/accounts", 404},
		{"/_sim/accounts/123456789012/regions/eu-west-1/calls", 200}, // the root account, declared or not
	} {
		e.control("GET", tt.path, "", tt.status, nil)
	}
}

func TestReset_Worlds(t *testing.T) {
	e := newMultiEnv(t)
	role := e.role("eu-west-1", otherAccount, "deskpilot")
	c := e.appstream("eu-west-1", role)
	if _, err := c.CreateStack(e.ctx, &appstream.CreateStackInput{Name: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.CreateImage(sim.ImageSpec{Name: "root-img"}); err != nil {
		t.Fatal(err)
	}
	// A world's own reset resets only it.
	e.control("POST", "/_sim/accounts/123456789012/regions/us-east-1/reset", "", 200, nil)
	if imgs := privateImages(t, e.ctx, e.appstream("us-east-1", static("AKID"))); len(imgs) != 0 {
		t.Errorf("root images after its world reset: %v", imgs)
	}
	out, err := c.DescribeStacks(e.ctx, &appstream.DescribeStacksInput{})
	if err != nil || len(out.Stacks) != 1 {
		t.Fatalf("the other world lost its stack on another world's reset: %v %v", out, err)
	}

	// The root's reset drops every world and forgets the credentials; the accounts stay.
	world := e.sim.World(otherAccount, "eu-west-1")
	e.control("POST", "/_sim/reset", "", 200, nil)
	if e.sim.World(otherAccount, "eu-west-1") == world {
		t.Error("the world survived the root's reset")
	}
	id, err := sts.NewFromConfig(e.cfg("eu-west-1", role)).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != rootAccount {
		t.Errorf("a forgotten temporary key signs as %s, want the root account's user (an unknown key)", aws.ToString(id.Account))
	}
	if len(e.sim.Accounts()) != 3 {
		t.Errorf("accounts after reset: %v", e.sim.Accounts())
	}
	if _, err := e.role("eu-west-1", otherAccount, "deskpilot").Retrieve(e.ctx); err != nil {
		t.Errorf("AssumeRole after reset: %v", err)
	}
}

func TestAccounts_Seed(t *testing.T) {
	s := sim.New(sim.Options{Clock: sim.NewManualClock(epoch)})
	err := s.LoadSeed(strings.NewReader(`
Accounts:
  - Id: "222222222222"
    AccessKeys: [AKIA2222222222222222]
    Roles:
      - {RoleName: deskpilot, TrustedAccounts: ["123456789012"], ExternalId: ext-1, MaxSessionDuration: 7200}
    DeniedRegions: [ap-south-1]
Images:
  - {Name: img-1}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []sim.Account{{ID: rootAccount}, {ID: otherAccount, AccessKeys: []string{otherKey},
		Roles:         []sim.Role{{Name: "deskpilot", TrustedAccounts: []string{rootAccount}, ExternalID: "ext-1", MaxSessionDuration: 7200}},
		DeniedRegions: []string{deniedRegion}}}
	if diff := cmp.Diff(want, s.Accounts()); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	if err := s.LoadSeed(strings.NewReader(`Accounts: [{Id: "1"}]`)); err == nil || !strings.Contains(err.Error(), `account "1"`) {
		t.Errorf("bad seed account: %v", err)
	}
}

func TestNew_InvalidAccountPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Options.Accounts") {
			t.Errorf("recover() = %v", r)
		}
	}()
	sim.New(sim.Options{Accounts: []sim.Account{{ID: "x"}}})
}

func TestAccounts_SNSPerWorld(t *testing.T) {
	e := newMultiEnv(t)
	k := newSink(t)
	world := e.sim.World(otherAccount, "eu-west-1")
	var sub sim.SNSSubscription
	e.control("POST", "/_sim/accounts/222222222222/regions/eu-west-1/sns/subscriptions", `{"Endpoint": "`+k.srv.URL+`/sns"}`, 201, &sub)
	topic := "arn:aws:sns:eu-west-1:222222222222:workspaces-disconnect"
	if sub.TopicArn != topic {
		t.Errorf("TopicArn %s, want %s", sub.TopicArn, topic)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := world.WaitDeliveries(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The sink followed the SubscribeURL, unsigned: it reached the topic's world.
	if subs := world.SNSSubscriptions(); len(subs) != 1 || subs[0].Status != "confirmed" {
		t.Errorf("the world's subscriptions: %+v", subs)
	}
	if subs := e.sim.SNSSubscriptions(); len(subs) != 0 {
		t.Errorf("the root's subscriptions: %+v", subs)
	}
	confs := k.messages("SubscriptionConfirmation")
	if len(confs) != 1 {
		t.Fatalf("%d confirmations", len(confs))
	}
	if err := verifySNS(confs[0].msg, fetchCert(t, confs[0].msg["SigningCertURL"])); err != nil {
		t.Errorf("the world's messages do not verify against the one certificate: %v", err)
	}
}

func TestAccounts_TagEventOfAnAssumedRole(t *testing.T) {
	e := newMultiEnv(t)
	role := e.role("eu-west-1", otherAccount, "deskpilot", func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "tagger" })
	cfg := e.cfg("eu-west-1", role)
	sq := sqs.NewFromConfig(cfg)
	q, err := sq.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("tag-events")})
	if err != nil {
		t.Fatal(err)
	}
	e.control("POST", "/_sim/accounts/222222222222/regions/eu-west-1/events/targets", `{"QueueUrl": "`+aws.ToString(q.QueueUrl)+`"}`, 200, nil)
	as := appstream.NewFromConfig(cfg)
	if _, err := as.CreateStack(e.ctx, &appstream.CreateStackInput{Name: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:appstream:eu-west-1:222222222222:stack/s1"
	if _, err := as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	out, err := sq.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage: %v %v", out, err)
	}
	var ev struct {
		Account, Region string
		Detail          struct {
			UserIdentity struct {
				Type, PrincipalId, Arn, AccountId string
				SessionContext                    struct {
					SessionIssuer struct{ Type, Arn, UserName string }
				}
			}
			RecipientAccountId string
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &ev); err != nil {
		t.Fatal(err)
	}
	id := ev.Detail.UserIdentity
	got := []string{ev.Account, ev.Region, ev.Detail.RecipientAccountId, id.Type, id.Arn, id.AccountId, id.SessionContext.SessionIssuer.Type,
		id.SessionContext.SessionIssuer.Arn, id.SessionContext.SessionIssuer.UserName}
	want := []string{otherAccount, "eu-west-1", otherAccount, "AssumedRole", "arn:aws:sts::222222222222:assumed-role/deskpilot/tagger", otherAccount, "Role",
		"arn:aws:iam::222222222222:role/deskpilot", "deskpilot"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(id.PrincipalId, "AROA") || !strings.HasSuffix(id.PrincipalId, ":tagger") {
		t.Errorf("principalId %q", id.PrincipalId)
	}
}

// TestAWSCLI_AssumeRole checks the accounts with an independent client: the AWS CLI assumes a
// role with an external id, then works in that role's world; a denied region refuses it.
func TestAWSCLI_AssumeRole(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed (no `aws` on PATH); CI installs it. Skipping the independent-client check of AssumeRole.")
	}
	e := newMultiEnv(t)
	if _, err := e.sim.World(otherAccount, "eu-west-1").CreateImage(sim.ImageSpec{Name: "cli-img"}); err != nil {
		t.Fatal(err)
	}
	run := func(extraEnv []string, args ...string) (map[string]any, string, error) {
		cmd := exec.Command(awsPath, append([]string{"--endpoint-url", e.url, "--output", "json"}, args...)...)
		cmd.Env = append(clientEnv(t, e.url), extraEnv...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var v map[string]any
		if err == nil && strings.TrimSpace(stdout.String()) != "" {
			if jerr := json.Unmarshal([]byte(stdout.String()), &v); jerr != nil {
				t.Fatalf("aws %s printed %q: %v", strings.Join(args, " "), stdout.String(), jerr)
			}
		}
		return v, stderr.String(), err
	}
	out, stderr, err := run(nil, "sts", "assume-role", "--region", "eu-west-1", "--role-arn", "arn:aws:iam::222222222222:role/with-external-id",
		"--role-session-name", "cli", "--external-id", "ext-1")
	if err != nil {
		t.Fatalf("assume-role: %v\n%s", err, stderr)
	}
	creds := out["Credentials"].(map[string]any)
	roleEnv := []string{"AWS_ACCESS_KEY_ID=" + creds["AccessKeyId"].(string), "AWS_SECRET_ACCESS_KEY=" + creds["SecretAccessKey"].(string),
		"AWS_SESSION_TOKEN=" + creds["SessionToken"].(string)}
	id, stderr, err := run(roleEnv, "sts", "get-caller-identity", "--region", "eu-west-1")
	if err != nil || id["Arn"] != "arn:aws:sts::222222222222:assumed-role/with-external-id/cli" || id["Account"] != otherAccount {
		t.Errorf("get-caller-identity as the role: %v %v\n%s", id, err, stderr)
	}
	imgs, stderr, err := run(roleEnv, "appstream", "describe-images", "--type", "PRIVATE", "--region", "eu-west-1")
	if err != nil {
		t.Fatalf("describe-images: %v\n%s", err, stderr)
	}
	if list := imgs["Images"].([]any); len(list) != 1 || list[0].(map[string]any)["Arn"] != "arn:aws:appstream:eu-west-1:222222222222:image/cli-img" {
		t.Errorf("describe-images as the role: %v", list)
	}
	_, stderr, err = run(nil, "sts", "assume-role", "--region", "eu-west-1", "--role-arn", "arn:aws:iam::222222222222:role/with-external-id",
		"--role-session-name", "cli")
	if err == nil || !strings.Contains(stderr, "AccessDenied") {
		t.Errorf("assume-role without the external id: %v\n%s", err, stderr)
	}
	_, stderr, err = run([]string{"AWS_ACCESS_KEY_ID=" + otherKey}, "appstream", "describe-fleets", "--region", deniedRegion)
	if err == nil || !strings.Contains(stderr, "AccessDeniedException") || !strings.Contains(stderr, "explicit deny in a service control policy") {
		t.Errorf("describe-fleets in the denied region: %v\n%s", err, stderr)
	}
}
