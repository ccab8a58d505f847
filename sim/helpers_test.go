package sim_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"
	"github.com/aws/smithy-go"

	"github.com/deskpilot/deskpilot/sim"
)

var epoch = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// env is an emulator on a manual clock behind a real HTTP server, with real SDK clients.
type env struct {
	t     *testing.T
	ctx   context.Context
	sim   *sim.Sim
	clock *sim.ManualClock
	url   string
	cfg   aws.Config
	as    *appstream.Client
	aas   *applicationautoscaling.Client
	ws    *workspaces.Client
}

func newEnv(t testing.TB, opts ...func(*sim.Options)) *env {
	t.Helper()
	clock := sim.NewManualClock(epoch)
	o := sim.Options{Clock: clock, RandSeed: 7}
	for _, f := range opts {
		f(&o)
	}
	s := sim.New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cfg := sdkConfig(t, srv.URL, 3)
	e := &env{ctx: context.Background(), sim: s, clock: clock, url: srv.URL, cfg: cfg,
		as: appstream.NewFromConfig(cfg), aas: applicationautoscaling.NewFromConfig(cfg), ws: workspaces.NewFromConfig(cfg)}
	s.SetBaseURL(srv.URL)
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	return e
}

// sdkConfig is what a user would write to point the SDK at the emulator.
func sdkConfig(t testing.TB, url string, attempts int) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithBaseEndpoint(url),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		// Standard retries, without real waiting. Even the tests that expect errors keep them:
		// aws-sdk-go-v2 intermittently fails a read with "use of closed network connection"
		// when it closes a request body the transport is still flushing (aws/aws-sdk-go-v2#1825,
		// #2737), which the standard retryer absorbs, as it does against AWS.
		config.WithRetryer(fastRetries(attempts)),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fastRetries is the SDK's standard retryer with more attempts and no real waiting, so tests
// of throttling stay fast without changing what is retried.
func fastRetries(attempts int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

func (e *env) advance(d time.Duration) {
	if err := e.sim.Advance(d); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) image(name, platform string) string {
	e.t.Helper()
	if _, err := e.sim.CreateImage(sim.ImageSpec{Name: name, Platform: platform}); err != nil {
		e.t.Fatal(err)
	}
	return "arn:aws:appstream:us-east-1:123456789012:image/" + name
}

// runningFleet creates an ALWAYS_ON fleet on image, starts it and waits (in simulated time)
// until its instances are up.
func (e *env) runningFleet(name, image string, desired int32) {
	e.t.Helper()
	_, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{
		Name: aws.String(name), InstanceType: aws.String("stream.standard.medium"),
		FleetType: astypes.FleetTypeAlwaysOn, ImageName: aws.String(image),
		ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(desired)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.as.StartFleet(e.ctx, &appstream.StartFleetInput{Name: aws.String(name)}); err != nil {
		e.t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.FleetStart)
}

func (e *env) fleet(name string) astypes.Fleet {
	e.t.Helper()
	out, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{Names: []string{name}})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Fleets[0]
}

type capacity struct{ Desired, Running, InUse, Available int32 }

func (e *env) capacity(name string) capacity {
	c := e.fleet(name).ComputeCapacityStatus
	return capacity{aws.ToInt32(c.Desired), aws.ToInt32(c.Running), aws.ToInt32(c.InUse), aws.ToInt32(c.Available)}
}

func (e *env) register(fleet string, min, max int32) error {
	_, err := e.aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace:  aastypes.ServiceNamespaceAppstream,
		ResourceId:        aws.String("fleet/" + fleet),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		MinCapacity:       aws.Int32(min), MaxCapacity: aws.Int32(max),
	})
	return err
}

func (e *env) stack(name string, fleets ...string) {
	e.t.Helper()
	if _, err := e.as.CreateStack(e.ctx, &appstream.CreateStackInput{Name: aws.String(name)}); err != nil {
		e.t.Fatal(err)
	}
	for _, f := range fleets {
		if _, err := e.as.AssociateFleet(e.ctx, &appstream.AssociateFleetInput{FleetName: aws.String(f), StackName: aws.String(name)}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) session(fleet, stack, user string) string {
	e.t.Helper()
	info, err := e.sim.StartSession(sim.SessionSpec{FleetName: fleet, StackName: stack, UserId: user})
	if err != nil {
		e.t.Fatal(err)
	}
	return info.SessionId
}
