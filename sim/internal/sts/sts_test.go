package sts_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
