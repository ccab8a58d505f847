package sts_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim/internal/sts"
)

const account = "123456789012"

// newClient serves a Backend over HTTP the way the sim's router does and returns a real SDK
// client pointed at it.
func newClient(t *testing.T) *awssts.Client {
	t.Helper()
	b := sts.New(account)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.ServeQuery(w, r)
	}))
	t.Cleanup(srv.Close)
	return awssts.New(awssts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
	})
}

func TestBackend_GetCallerIdentity(t *testing.T) {
	client := newClient(t)
	out, err := client.GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{aws.ToString(out.Account), aws.ToString(out.Arn)}
	want := []string{account, "arn:aws:iam::123456789012:user/deskpilot-sim"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
	if id := aws.ToString(out.UserId); len(id) != 21 || id[:4] != "AIDA" {
		t.Errorf("UserId = %q, want AIDA and 17 characters", id)
	}
	if id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); id == "" {
		t.Error("response has no request id")
	}
}

func TestBackend_AssumeRoleRefused(t *testing.T) {
	client := newClient(t)
	_, err := client.AssumeRole(context.Background(), &awssts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/nope"), RoleSessionName: aws.String("s1"),
	})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
		t.Fatalf("error = %v, want AccessDenied", err)
	}
	want := "User: arn:aws:iam::123456789012:user/deskpilot-sim is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/nope"
	if apiErr.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", apiErr.ErrorMessage(), want)
	}
}

func TestParseAssumeRole(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name string
		form url.Values
		want string // the error message, "" for none
	}{
		{"ok", url.Values{"RoleArn": {"arn:aws:iam::222222222222:role/path/r1"}, "RoleSessionName": {"s@x.y"}}, ""},
		{"no session name", url.Values{"RoleArn": {"arn:aws:iam::222222222222:role/r1"}},
			"1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"},
		{"short session name", url.Values{"RoleArn": {"arn:aws:iam::222222222222:role/r1"}, "RoleSessionName": {"s"}},
			"1 validation error detected: Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{"long session name", url.Values{"RoleArn": {"arn:aws:iam::222222222222:role/r1"}, "RoleSessionName": {long}},
			"1 validation error detected: Value '" + long + "' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"bad session name", url.Values{"RoleArn": {"arn:aws:iam::222222222222:role/r1"}, "RoleSessionName": {"a b"}},
			`1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{"two errors", url.Values{"RoleArn": {"arn:aws:iam::222222222222:role/r1"}, "RoleSessionName": {"s"}, "DurationSeconds": {"60"}},
			"2 validation errors detected: Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{"long duration", url.Values{"RoleArn": {"arn:aws:iam::222222222222:role/r1"}, "RoleSessionName": {"s1"}, "DurationSeconds": {"43201"}},
			"1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"},
		{"user arn", url.Values{"RoleArn": {"arn:aws:iam::222222222222:user/u1"}, "RoleSessionName": {"s1"}},
			"arn:aws:iam::222222222222:user/u1 is not a valid IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"},
		{"short external id", url.Values{"RoleArn": {"arn:aws:iam::222222222222:role/r1"}, "RoleSessionName": {"s1"}, "ExternalId": {"x"}},
			"1 validation error detected: Value 'x' at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := sts.ParseAssumeRole(tt.form.Get, tt.form.Has)
			got := ""
			if err != nil {
				got = err.Message
				if err.Code != "ValidationError" || err.Status != 400 {
					t.Errorf("error %s %d, want ValidationError 400", err.Code, err.Status)
				}
			}
			if got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
			if tt.want == "" && (in.RoleAccount != "222222222222" || in.RoleName != "r1") {
				t.Errorf("role = %s %s", in.RoleAccount, in.RoleName)
			}
		})
	}
}

func TestBackend_UnknownAction(t *testing.T) {
	client := newClient(t)
	_, err := client.GetSessionToken(context.Background(), &awssts.GetSessionTokenInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v, want an API error", err)
	}
	if apiErr.ErrorCode() != "InvalidAction" {
		t.Errorf("code = %q, want InvalidAction", apiErr.ErrorCode())
	}
}
