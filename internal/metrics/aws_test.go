package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/metrics"
	"github.com/deskpilot/deskpilot/sim"
)

// maxAttempts is the SDK's attempts per call in these tests.
const maxAttempts = 3

// awsConfig is an SDK configuration at endpoint with static credentials, maxAttempts attempts
// without backoff, and m's middleware added the way the daemon adds it (awsconfig options).
func awsConfig(t *testing.T, endpoint string, m *metrics.Metrics) aws.Config {
	t.Helper()
	// No shared files or environment of the machine running the tests.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	cfg, err := awsconfig.LoadDefaultConfig(t.Context(),
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithBaseEndpoint(endpoint),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				o.RateLimiter = ratelimit.None
			})
		}),
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{m.AWSMiddleware("")}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// answer is one HTTP answer of the fake AppStream endpoint (JSON 1.1 protocol).
type answer struct {
	status int
	body   string
}

var (
	ok        = answer{200, `{"Fleets":[]}`}
	throttled = answer{400, `{"__type":"ThrottlingException","message":"Rate exceeded"}`}
	notFound  = answer{400, `{"__type":"ResourceNotFoundException","message":"The fleet was not found."}`}
	denied    = answer{400, `{"__type":"AccessDeniedException","message":"not authorized"}`}
	internal  = answer{500, `{"__type":"InternalServerError","message":"oops"}`}
)

// fakeAppStream answers the requests it gets with answers, one each in order, then with the
// last one again; it counts the requests.
func fakeAppStream(t *testing.T, answers ...answer) (url string, requests *atomic.Int32) {
	requests = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(requests.Add(1)) - 1
		a := answers[min(n, len(answers)-1)]
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests
}

func TestMetrics_AWSMiddleware(t *testing.T) {
	describe := func(ctx context.Context, c *appstream.Client) error {
		_, err := c.DescribeFleets(ctx, &appstream.DescribeFleetsInput{})
		return err
	}
	cases := []struct {
		name    string
		answers []answer
		call    func(context.Context, *appstream.Client) error
		wantErr bool
		// want are the deskpilot_aws_calls_total samples; requests how many reached the server.
		want     map[string]float64
		requests int32
	}{
		{
			name: "success", answers: []answer{ok}, call: describe,
			want:     map[string]float64{`deskpilot_aws_calls_total{account="",class="ok",operation="DescribeFleets",region="us-east-1",service="AppStream"}`: 1},
			requests: 1,
		},
		{
			name: "throttled through every attempt: one call, throttled", answers: []answer{throttled}, call: describe, wantErr: true,
			want:     map[string]float64{`deskpilot_aws_calls_total{account="",class="throttled",operation="DescribeFleets",region="us-east-1",service="AppStream"}`: 1},
			requests: maxAttempts,
		},
		{
			name: "throttled, then retried by the SDK with success: one call, ok", answers: []answer{throttled, ok}, call: describe,
			want:     map[string]float64{`deskpilot_aws_calls_total{account="",class="ok",operation="DescribeFleets",region="us-east-1",service="AppStream"}`: 1},
			requests: 2,
		},
		{
			name: "server error, then success", answers: []answer{internal, internal, ok}, call: describe,
			want:     map[string]float64{`deskpilot_aws_calls_total{account="",class="ok",operation="DescribeFleets",region="us-east-1",service="AppStream"}`: 1},
			requests: 3,
		},
		{
			name: "not found is not retried", answers: []answer{notFound}, wantErr: true,
			call: func(ctx context.Context, c *appstream.Client) error {
				_, err := c.StopFleet(ctx, &appstream.StopFleetInput{Name: aws.String("fleet-a")})
				return err
			},
			want:     map[string]float64{`deskpilot_aws_calls_total{account="",class="not-found",operation="StopFleet",region="us-east-1",service="AppStream"}`: 1},
			requests: 1,
		},
		{
			name: "denied", answers: []answer{denied}, call: describe, wantErr: true,
			want:     map[string]float64{`deskpilot_aws_calls_total{account="",class="denied",operation="DescribeFleets",region="us-east-1",service="AppStream"}`: 1},
			requests: 1,
		},
		{
			name: "refused by the SDK's validation before sending: not an AWS call", answers: []answer{ok}, wantErr: true,
			call: func(ctx context.Context, c *appstream.Client) error {
				_, err := c.StopFleet(ctx, &appstream.StopFleetInput{}) // Name is required
				return err
			},
			want:     map[string]float64{},
			requests: 0,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := metrics.New(nil)
			url, requests := fakeAppStream(t, c.answers...)
			client := appstream.NewFromConfig(awsConfig(t, url, m))
			if err := c.call(t.Context(), client); (err != nil) != c.wantErr {
				t.Fatalf("call: err = %v, want an error: %v", err, c.wantErr)
			}
			if got := requests.Load(); got != c.requests {
				t.Errorf("the server got %d requests, want %d", got, c.requests)
			}
			if diff := cmp.Diff(c.want, scrapeOnce(t, m).withPrefix("deskpilot_aws_calls_total")); diff != "" {
				t.Errorf("deskpilot_aws_calls_total (-want +got):\n%s", diff)
			}
		})
	}
}

// Against the emulator: the three protocols deskpilot speaks (AppStream and WorkSpaces JSON,
// STS query) are labelled by their SDK service IDs, and an emulated throttle the SDK retried
// away is one successful call.
func TestMetrics_AWSMiddleware_emulator(t *testing.T) {
	s := sim.New(sim.Options{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	if err := s.AddFault(sim.Fault{Service: sim.ServiceAppStream, Operation: "DescribeFleets", ErrorCode: "ThrottlingException", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFault(sim.Fault{Service: sim.ServiceWorkSpaces, Operation: "DescribeWorkspaces", ErrorCode: "ThrottlingException"}); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(nil)
	cfg := awsConfig(t, srv.URL, m)
	ctx := t.Context()

	if _, err := appstream.NewFromConfig(cfg).DescribeFleets(ctx, &appstream.DescribeFleetsInput{}); err != nil {
		t.Errorf("DescribeFleets: %v", err)
	}
	if _, err := workspaces.NewFromConfig(cfg).DescribeWorkspaces(ctx, &workspaces.DescribeWorkspacesInput{}); err == nil {
		t.Error("DescribeWorkspaces succeeded through a lasting throttle")
	}
	for range 2 {
		if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Errorf("GetCallerIdentity: %v", err)
		}
	}

	want := map[string]float64{
		`deskpilot_aws_calls_total{account="",class="ok",operation="DescribeFleets",region="us-east-1",service="AppStream"}`:             1,
		`deskpilot_aws_calls_total{account="",class="throttled",operation="DescribeWorkspaces",region="us-east-1",service="WorkSpaces"}`: 1,
		`deskpilot_aws_calls_total{account="",class="ok",operation="GetCallerIdentity",region="us-east-1",service="STS"}`:                2,
	}
	if diff := cmp.Diff(want, scrapeOnce(t, m).withPrefix("deskpilot_aws_calls_total")); diff != "" {
		t.Errorf("deskpilot_aws_calls_total (-want +got):\n%s", diff)
	}
}

// Adding the middleware twice (APIOptions appended twice) still counts each call once.
func TestMetrics_AWSMiddleware_addedTwice(t *testing.T) {
	m := metrics.New(nil)
	url, _ := fakeAppStream(t, ok)
	cfg := awsConfig(t, url, m)
	cfg.APIOptions = append(cfg.APIOptions, m.AWSMiddleware(""))
	if _, err := appstream.NewFromConfig(cfg).DescribeFleets(t.Context(), &appstream.DescribeFleetsInput{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{`deskpilot_aws_calls_total{account="",class="ok",operation="DescribeFleets",region="us-east-1",service="AppStream"}`: 1}
	if diff := cmp.Diff(want, scrapeOnce(t, m).withPrefix("deskpilot_aws_calls_total")); diff != "" {
		t.Errorf("deskpilot_aws_calls_total (-want +got):\n%s", diff)
	}
}
