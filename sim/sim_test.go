package sim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim"
)

func TestAutoScaling_TargetsAndActivities(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 1)
	if err := e.register("f1", 2, 5); err != nil {
		t.Fatal(err)
	}
	out, err := e.aas.DescribeScalableTargets(e.ctx, &applicationautoscaling.DescribeScalableTargetsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: []string{"fleet/f1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ScalableTargets) != 1 {
		t.Fatalf("targets = %+v", out.ScalableTargets)
	}
	tg := out.ScalableTargets[0]
	if aws.ToInt32(tg.MinCapacity) != 2 || aws.ToInt32(tg.MaxCapacity) != 5 || aws.ToString(tg.RoleARN) == "" ||
		tg.SuspendedState == nil || tg.CreationTime == nil || !strings.HasPrefix(aws.ToString(tg.ScalableTargetARN), "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/") {
		t.Errorf("target not fully populated: %+v", tg)
	}
	// Registering moved the fleet's desired capacity up to the new minimum.
	if got := e.capacity("f1").Desired; got != 2 {
		t.Errorf("Desired after registering 2/5 = %d, want 2", got)
	}
	// Updating only Max keeps Min, and clamps again.
	_, err = e.aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f1"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, MaxCapacity: aws.Int32(1),
	})
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("Max below the kept Min: %s, want ValidationException", code)
	}
	acts, err := e.aas.DescribeScalingActivities(e.ctx, &applicationautoscaling.DescribeScalingActivitiesInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts.ScalingActivities) != 1 || aws.ToString(acts.ScalingActivities[0].Description) != "Setting desired capacity to 2." ||
		acts.ScalingActivities[0].StatusCode != aastypes.ScalingActivityStatusCodeSuccessful {
		t.Errorf("activities = %+v", acts.ScalingActivities)
	}
	// A new target needs both bounds.
	e.runningFleet("f2", "img-1", 1)
	_, err = e.aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f2"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, MinCapacity: aws.Int32(1),
	})
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("new target without Max: %s, want ValidationException", code)
	}
	deregister := func(id string) error {
		_, err := e.aas.DeregisterScalableTarget(e.ctx, &applicationautoscaling.DeregisterScalableTargetInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String(id),
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		})
		return err
	}
	if err := deregister("fleet/f1"); err != nil {
		t.Fatal(err)
	}
	if code := errorCode(deregister("fleet/f1")); code != "ObjectNotFoundException" {
		t.Errorf("deregistering twice: %s, want ObjectNotFoundException", code)
	}
	// A stopped fleet is not active: registering does not touch its capacity.
	if _, err := e.as.StopFleet(e.ctx, &appstream.StopFleetInput{Name: aws.String("f2")}); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.FleetStop)
	if err := e.register("f2", 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := e.capacity("f2").Desired; got != 1 {
		t.Errorf("Desired of a stopped fleet after 0/0 = %d, want 1 (unchanged)", got)
	}
}

func TestProtocol_Edges(t *testing.T) {
	e := newEnv(t)
	post := func(target, body string) (int, map[string]string) {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.Header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("%s: no x-amzn-RequestId header", target)
		}
		return resp.StatusCode, out
	}
	tests := []struct {
		name, target, body string
		status             int
		code               string
	}{
		{"unknown operation", "PhotonAdminProxyService.LaunchRockets", "{}", 400, "UnknownOperationException"},
		{"unknown service", "NoSuchService.Op", "{}", 400, "UnknownOperationException"},
		{"malformed JSON", "PhotonAdminProxyService.DescribeFleets", "{", 400, "SerializationException"},
		{"wrong member type", "PhotonAdminProxyService.DescribeFleets", `{"Names":"f1"}`, 400, "SerializationException"},
		{"missing required member", "PhotonAdminProxyService.StartFleet", "{}", 400, "ValidationException"},
		{"empty body is an empty input", "PhotonAdminProxyService.DescribeFleets", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := post(tt.target, tt.body)
			if status != tt.status || out["__type"] != tt.code {
				t.Errorf("got %d %q (%s), want %d %q", status, out["__type"], out["message"], tt.status, tt.code)
			}
		})
	}
}

func TestFaults_ThrottlingWithStandardRetries(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 1)
	if err := e.sim.AddFault(sim.Fault{Service: "*", ErrorCode: "ThrottlingException", Probability: 0.3}); err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg.Copy()
	cfg.Retryer = fastRetries(12)
	cfg.RetryMaxAttempts = 0
	as := appstream.NewFromConfig(cfg)
	aas := applicationautoscaling.NewFromConfig(cfg)

	before := e.sim.Calls()
	for i := range 50 {
		var err error
		switch i % 5 {
		case 0:
			_, err = as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
		case 1:
			_, err = as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("f1"), DisplayName: aws.String(fmt.Sprint(i))})
		case 2:
			_, err = as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String("arn:aws:appstream:us-east-1:123456789012:fleet/f1"), Tags: map[string]string{"n": fmt.Sprint(i)}})
		case 3:
			_, err = aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
				ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f1"),
				ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(int32(2 + i)),
			})
		case 4:
			_, err = as.DescribeImages(e.ctx, &appstream.DescribeImagesInput{Names: []string{"img-1"}})
		}
		if err != nil {
			t.Fatalf("call %d failed despite retries: %v", i, err)
		}
	}
	report := e.sim.Calls()
	throttled := 0
	for _, c := range report.Calls {
		if c.ErrorCode == "ThrottlingException" {
			throttled++
		}
	}
	attempts := report.Total - before.Total
	if throttled == 0 || attempts != 50+throttled {
		t.Errorf("attempts = %d, throttled = %d; want 50 successes plus one attempt per throttle", attempts, throttled)
	}
	if got := report.Counts["appstream.UpdateFleet!ThrottlingException"]; got == 0 {
		t.Errorf("counts do not show throttled UpdateFleet calls: %v", report.Counts)
	}
	if f := e.fleet("f1"); aws.ToString(f.DisplayName) != "46" {
		t.Errorf("DisplayName = %q, want the last update's", aws.ToString(f.DisplayName))
	}
	t.Logf("50 calls took %d attempts (%d throttled)", attempts, throttled)
}

func TestFaults_ShapesPerProtocol(t *testing.T) {
	e := newEnv(t)
	for _, f := range []sim.Fault{
		{Service: "appstream", Operation: "DescribeFleets", ErrorCode: "RequestLimitExceededException", Count: 1},
		{Service: "sesv2", ErrorCode: "TooManyRequestsException", Count: 1},
		{Service: "sts", ErrorCode: "InternalFailure", Count: 3},
	} {
		if err := e.sim.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	// One attempt per call, so that every injected error reaches the caller.
	cfg := e.cfg.Copy()
	cfg.Retryer = fastRetries(1)
	as := appstream.NewFromConfig(cfg)
	_, err := as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
	if code := errorCode(err); code != "RequestLimitExceededException" {
		t.Errorf("appstream fault: %s", code)
	}
	if _, err := as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{}); err != nil {
		t.Errorf("a Count 1 fault fired twice: %v", err)
	}
	_, err = sesv2.NewFromConfig(cfg).SendEmail(e.ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("a@example.com"), Destination: &sesv2types.Destination{ToAddresses: []string{"b@example.com"}},
		Content: &sesv2types.EmailContent{Simple: &sesv2types.Message{Subject: &sesv2types.Content{Data: aws.String("s")}, Body: &sesv2types.Body{Text: &sesv2types.Content{Data: aws.String("t")}}}},
	})
	var tooMany *sesv2types.TooManyRequestsException
	if !errors.As(err, &tooMany) {
		t.Errorf("sesv2 fault: %v, want a typed TooManyRequestsException", err)
	}
	_, err = sts.NewFromConfig(cfg).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
	if code := errorCode(err); code != "InternalFailure" {
		t.Errorf("sts fault: %s", code)
	}
	if got := e.sim.Faults(); len(got) != 1 || got[0].Injected != 1 {
		t.Errorf("remaining faults = %+v, want the sts one with 1 injection", got)
	}
	if err := e.sim.AddFault(sim.Fault{Probability: 2, ErrorCode: "X"}); err == nil {
		t.Error("a probability of 2 was accepted")
	}
}

func TestConcurrency_ParallelClients(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.image("img-2", "WINDOWS_SERVER_2022")
	e.stack("s1")
	for i := range 4 {
		e.runningFleet(fmt.Sprintf("f%d", i), "img-1", 2)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("f%d", w%4)
			for i := range 20 {
				var err error
				switch i % 4 {
				case 0:
					_, err = e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
				case 1:
					img := []string{"img-1", "img-2"}[i%2]
					_, err = e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String(name), ImageName: aws.String(img)})
				case 2:
					err = e.register(name, 0, int32(i%3))
				case 3:
					_, err = e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String("arn:aws:appstream:us-east-1:123456789012:fleet/" + name), Tags: map[string]string{fmt.Sprint("w", w): "x"}})
					e.clock.Advance(30e9)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.sim.CountCalls("appstream", "UpdateFleet"); n != 8*5+0 {
		t.Errorf("UpdateFleet calls = %d, want 40", n)
	}
}

func TestControlAPI(t *testing.T) {
	e := newEnv(t)
	do := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object", method, path, raw)
		}
		return resp.StatusCode, out
	}
	status, img := do("POST", "/_sim/appstream/images", `{"Name":"img-2","Platform":"WINDOWS_SERVER_2022","State":"AVAILABLE"}`)
	if status != 201 || img["Arn"] != "arn:aws:appstream:us-east-1:123456789012:image/img-2" || img["Visibility"] != "PRIVATE" {
		t.Errorf("create image: %d %v", status, img)
	}
	if status, _ := do("POST", "/_sim/appstream/images", `{"Name":"img-2"}`); status != 409 {
		t.Errorf("duplicate image: %d, want 409", status)
	}
	if status, out := do("POST", "/_sim/appstream/images", `{"Name":"img-3","Platfrom":"X"}`); status != 400 {
		t.Errorf("misspelt key: %d %v, want 400", status, out)
	}
	if status, _ := do("POST", "/_sim/appstream/images/img-2/state", `{"State":"FAILED"}`); status != 200 {
		t.Errorf("set state: %d", status)
	}
	if status, _ := do("POST", "/_sim/appstream/images/img-2/state", `{"State":"BROKEN"}`); status != 400 {
		t.Errorf("bad state: %d, want 400", status)
	}
	out, err := e.as.DescribeImages(e.ctx, &appstream.DescribeImagesInput{Names: []string{"img-2"}})
	if err != nil || out.Images[0].State != astypes.ImageStateFailed {
		t.Errorf("state through the API: %+v %v", out, err)
	}

	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 1)
	e.stack("s1", "f1")
	status, sess := do("POST", "/_sim/appstream/sessions", `{"FleetName":"f1","StackName":"s1","UserId":"alice"}`)
	if status != 201 || sess["SessionId"] == "" {
		t.Fatalf("start session: %d %v", status, sess)
	}
	status, busy := do("POST", "/_sim/appstream/sessions", `{"FleetName":"f1","StackName":"s1","UserId":"bob"}`)
	if status != 409 || !strings.Contains(fmt.Sprint(busy["Error"]), "no available instance") {
		t.Errorf("no free instance: %d %v", status, busy)
	}
	status, ins := do("GET", "/_sim/appstream/fleets/f1/instances", "")
	list, _ := ins["Instances"].([]any)
	if status != 200 || len(list) != 1 || list[0].(map[string]any)["SessionId"] != sess["SessionId"] {
		t.Errorf("instances: %d %v", status, ins)
	}
	if status, _ := do("DELETE", "/_sim/appstream/sessions/"+sess["SessionId"].(string), ""); status != 200 {
		t.Errorf("end session: %d", status)
	}
	if status, _ := do("DELETE", "/_sim/appstream/sessions/nope", ""); status != 404 {
		t.Errorf("end unknown session: %d, want 404", status)
	}
	if status, out := do("POST", "/_sim/faults", `{"Service":"appstream","Operation":"UpdateFleet","ErrorCode":"ThrottlingException","Probability":0.3,"Count":0,"LatencyMs":0}`); status != 201 {
		t.Errorf("add fault: %d %v", status, out)
	}
	if status, _ := do("POST", "/_sim/faults", `{"Probability":0.3}`); status != 400 {
		t.Errorf("fault without effect: %d, want 400", status)
	}
	if status, out := do("DELETE", "/_sim/faults", ""); status != 200 || len(out["Faults"].([]any)) != 0 {
		t.Errorf("clear faults: %d %v", status, out)
	}
	status, calls := do("GET", "/_sim/calls", "")
	counts, _ := calls["Counts"].(map[string]any)
	if status != 200 || counts["appstream.DescribeImages"] != 1.0 {
		t.Errorf("calls: %d %v", status, counts)
	}
	if status, _ := do("GET", "/_sim/nothing", ""); status != 404 {
		t.Errorf("unknown endpoint: %d", status)
	}
	if status, _ := do("POST", "/_sim/reset", ""); status != 200 {
		t.Errorf("reset: %d", status)
	}
	fleets, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
	if err != nil || len(fleets.Fleets) != 0 {
		t.Errorf("after reset: %+v %v", fleets, err)
	}
}

func TestSeed(t *testing.T) {
	e := newEnv(t)
	seed := `
Images:
  - {Name: img-1, Platform: WINDOWS_SERVER_2022}
Fleets:
  - Name: fleet-a
    ImageName: img-1
    DesiredInstances: 3
    ScalableTarget: {MinCapacity: 2, MaxCapacity: 6}
    Tags: {MaintenanceWindow: "sun:02:00-sun:05:00 Europe/Berlin"}
  - {Name: fleet-b, ImageName: img-1, DesiredInstances: 1, State: STOPPED}
Stacks:
  - {Name: stack-a, Fleets: [fleet-a]}
Sessions:
  - {FleetName: fleet-a, StackName: stack-a, UserId: alice}
VerifiedEmailIdentities: [deskpilot@example.com]
`
	if err := e.sim.LoadSeed(strings.NewReader(seed)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(capacity{3, 3, 1, 2}, e.capacity("fleet-a")); diff != "" {
		t.Errorf("seeded fleet-a (-want +got):\n%s", diff)
	}
	if got := e.fleet("fleet-b").State; got != astypes.FleetStateStopped {
		t.Errorf("fleet-b state = %s", got)
	}
	tags, err := e.as.ListTagsForResource(e.ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:appstream:us-east-1:123456789012:fleet/fleet-a")})
	if err != nil || tags.Tags["MaintenanceWindow"] == "" {
		t.Errorf("seeded tags: %v %v", tags, err)
	}
	for _, bad := range []string{
		"Fleets:\n  - {Name: x, ImageName: img-1, DesiredInstance: 1}\n",    // misspelt key
		"Fleets:\n  - {Name: y, ImageName: missing, DesiredInstances: 1}\n", // unknown image
		"Images:\n  - {Name: 'bad name'}\n",
	} {
		if err := e.sim.LoadSeed(strings.NewReader(bad)); err == nil {
			t.Errorf("seed %q was accepted", bad)
		}
	}
}
