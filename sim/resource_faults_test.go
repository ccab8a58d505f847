package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim"
)

// resourceEstate has two fleets, a stack and an image that share no name, and two WorkSpaces.
var resourceEstate = sim.Seed{
	Images: []sim.ImageSpec{{Name: "img-1"}},
	Fleets: []sim.SeedFleet{
		{Name: "fleet-a", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 2}},
		{Name: "fleet-b", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 2}},
		{Name: "twin", ImageName: "img-1", DesiredInstances: 1},
	},
	Stacks: []sim.SeedStack{{Name: "stack-a", Fleets: []string{"fleet-a"}}, {Name: "twin", Fleets: []string{"twin"}}},
	Workspaces: []sim.WorkspaceSpec{
		{WorkspaceId: "ws-aaaaaaaa1", DirectoryId: "d-1234567890", UserName: "alice", BundleId: "wsb-1234567890"},
		{WorkspaceId: "ws-bbbbbbbb2", DirectoryId: "d-1234567890", UserName: "bob", BundleId: "wsb-1234567890"},
	},
}

// jsonCall sends one JSON 1.1 request and returns its status and error code ("" on success).
func jsonCall(t *testing.T, url, target, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out.Type
}

// TestFault_ResourceMatching checks which calls a Resource-scoped fault hits: every call that
// names the resource, in any member and any form (name, ARN, fleet/NAME), batched calls as a
// whole, and nothing else.
func TestFault_ResourceMatching(t *testing.T) {
	const (
		as  = "PhotonAdminProxyService."
		aas = "AnyScaleFrontendService."
		ws  = "WorkspacesService."
		arn = "arn:aws:appstream:us-east-1:123456789012:"
	)
	tests := []struct {
		name, resource, target, body string
		hit                          bool
	}{
		// AppStream, by fleet name.
		{"DescribeFleets names it", "fleet-a", as + "DescribeFleets", `{"Names":["fleet-a"]}`, true},
		{"DescribeFleets batch naming it fails as a whole", "fleet-a", as + "DescribeFleets", `{"Names":["fleet-b","fleet-a"]}`, true},
		{"DescribeFleets of other fleets", "fleet-a", as + "DescribeFleets", `{"Names":["fleet-b"]}`, false},
		{"DescribeFleets listing all names none", "fleet-a", as + "DescribeFleets", `{}`, false},
		{"UpdateFleet Name", "fleet-a", as + "UpdateFleet", `{"Name":"fleet-a","DisplayName":"x"}`, true},
		{"UpdateFleet of another fleet", "fleet-a", as + "UpdateFleet", `{"Name":"fleet-b","DisplayName":"x"}`, false},
		{"StopFleet Name", "fleet-a", as + "StopFleet", `{"Name":"fleet-a"}`, true},
		{"TagResource fleet ARN", "fleet-a", as + "TagResource", `{"ResourceArn":"` + arn + `fleet/fleet-a","Tags":{"k":"v"}}`, true},
		{"ListTagsForResource fleet ARN", "fleet-a", as + "ListTagsForResource", `{"ResourceArn":"` + arn + `fleet/fleet-a"}`, true},
		{"UntagResource another fleet's ARN", "fleet-a", as + "UntagResource", `{"ResourceArn":"` + arn + `fleet/fleet-b","TagKeys":["k"]}`, false},
		{"DescribeSessions FleetName", "fleet-a", as + "DescribeSessions", `{"FleetName":"fleet-a","StackName":"stack-a"}`, true},
		{"AssociateFleet FleetName", "fleet-a", as + "AssociateFleet", `{"FleetName":"fleet-a","StackName":"twin"}`, true},
		{"UpdateFleet to an image is not about the image", "img-1", as + "UpdateFleet", `{"Name":"fleet-b","ImageName":"img-1"}`, false},
		// AppStream, by ARN: the kind counts.
		{"fleet ARN matches the fleet by name", arn + "fleet/fleet-a", as + "DescribeFleets", `{"Names":["fleet-a"]}`, true},
		{"fleet ARN matches its TagResource", arn + "fleet/twin", as + "TagResource", `{"ResourceArn":"` + arn + `fleet/twin","Tags":{"k":"v"}}`, true},
		{"fleet ARN does not match the stack of that name", arn + "fleet/twin", as + "DescribeStacks", `{"Names":["twin"]}`, false},
		{"stack ARN matches DescribeSessions StackName", arn + "stack/twin", as + "DescribeSessions", `{"FleetName":"twin","StackName":"twin"}`, true},
		{"bare name matches every kind", "twin", as + "DescribeStacks", `{"Names":["twin"]}`, true},
		{"image name in DescribeImages", "img-1", as + "DescribeImages", `{"Names":["img-1"]}`, true},
		{"image ARN in DescribeImages Arns", "img-1", as + "DescribeImages", `{"Arns":["` + arn + `image/img-1"]}`, true},
		// Application Auto Scaling.
		{"RegisterScalableTarget ResourceId", "fleet-a", aas + "RegisterScalableTarget", `{"ServiceNamespace":"appstream","ResourceId":"fleet/fleet-a","ScalableDimension":"appstream:fleet:DesiredCapacity","MinCapacity":1,"MaxCapacity":3}`, true},
		{"RegisterScalableTarget another fleet", "fleet-a", aas + "RegisterScalableTarget", `{"ServiceNamespace":"appstream","ResourceId":"fleet/fleet-b","ScalableDimension":"appstream:fleet:DesiredCapacity","MinCapacity":1,"MaxCapacity":3}`, false},
		{"DescribeScalableTargets batch naming it", "fleet-a", aas + "DescribeScalableTargets", `{"ServiceNamespace":"appstream","ResourceIds":["fleet/fleet-b","fleet/fleet-a"]}`, true},
		{"DescribeScalableTargets listing all", "fleet-a", aas + "DescribeScalableTargets", `{"ServiceNamespace":"appstream"}`, false},
		{"DescribeScalingActivities ResourceId", "fleet-a", aas + "DescribeScalingActivities", `{"ServiceNamespace":"appstream","ResourceId":"fleet/fleet-a"}`, true},
		{"fleet/NAME as Resource", "fleet/fleet-a", as + "UpdateFleet", `{"Name":"fleet-a","DisplayName":"x"}`, true},
		// WorkSpaces.
		{"DescribeWorkspaces WorkspaceIds", "ws-aaaaaaaa1", ws + "DescribeWorkspaces", `{"WorkspaceIds":["ws-bbbbbbbb2","ws-aaaaaaaa1"]}`, true},
		{"DescribeWorkspacesConnectionStatus of another", "ws-aaaaaaaa1", ws + "DescribeWorkspacesConnectionStatus", `{"WorkspaceIds":["ws-bbbbbbbb2"]}`, false},
		{"DescribeWorkspacesConnectionStatus listing all", "ws-aaaaaaaa1", ws + "DescribeWorkspacesConnectionStatus", `{}`, false},
		{"RebuildWorkspaces request item", "ws-aaaaaaaa1", ws + "RebuildWorkspaces", `{"RebuildWorkspaceRequests":[{"WorkspaceId":"ws-aaaaaaaa1"}]}`, true},
		{"StopWorkspaces request items", "ws-aaaaaaaa1", ws + "StopWorkspaces", `{"StopWorkspaceRequests":[{"WorkspaceId":"ws-bbbbbbbb2"},{"WorkspaceId":"ws-aaaaaaaa1"}]}`, true},
		{"RestoreWorkspace WorkspaceId", "ws-aaaaaaaa1", ws + "RestoreWorkspace", `{"WorkspaceId":"ws-aaaaaaaa1"}`, true},
		{"DescribeTags ResourceId", "ws-aaaaaaaa1", ws + "DescribeTags", `{"ResourceId":"ws-aaaaaaaa1"}`, true},
		{"CreateTags on a directory", "d-1234567890", ws + "CreateTags", `{"ResourceId":"d-1234567890","Tags":[{"Key":"k","Value":"v"}]}`, true},
		// What never matches.
		{"a body that is not JSON names nothing", "fleet-a", as + "DescribeFleets", `not json`, false},
		{"the fleet's name in another service's member", "fleet-a", ws + "DescribeWorkspaces", `{"WorkspaceName":"fleet-a"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.sim.ApplySeed(resourceEstate); err != nil {
				t.Fatal(err)
			}
			if err := e.sim.AddFault(sim.Fault{Resource: tt.resource, ErrorCode: "AccessDeniedException"}); err != nil {
				t.Fatal(err)
			}
			status, code := jsonCall(t, e.url, tt.target, tt.body)
			if hit := code == "AccessDeniedException"; hit != tt.hit {
				t.Errorf("%s %s with Resource %q: %d %q, want hit=%v", tt.target, tt.body, tt.resource, status, code, tt.hit)
			}
			if hit := e.sim.Faults()[0].Injected == 1; hit != tt.hit {
				t.Errorf("Injected = %d, want hit=%v", e.sim.Faults()[0].Injected, tt.hit)
			}
		})
	}
}

// TestFault_ResourceThroughTheSDK scopes a fault to one fleet and checks that the calls about
// the other fleets go through, that a batched read naming it fails as a whole (as AWS fails a
// DescribeFleets for one bad name), that the faulted calls change nothing, and that the fault
// round-trips through the control API.
func TestFault_ResourceThroughTheSDK(t *testing.T) {
	e := newEnv(t)
	if err := e.sim.ApplySeed(resourceEstate); err != nil {
		t.Fatal(err)
	}
	body := `{"Resource":"fleet-a","ErrorCode":"InternalServerError"}`
	resp, err := http.Post(e.url+"/_sim/faults", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /_sim/faults: %d", resp.StatusCode)
	}
	if got := e.sim.Faults(); len(got) != 1 || got[0].Resource != "fleet-a" {
		t.Fatalf("faults = %+v", got)
	}
	cfg := e.cfg.Copy()
	cfg.Retryer = fastRetries(1)
	as, aas := appstream.NewFromConfig(cfg), applicationautoscaling.NewFromConfig(cfg)

	if _, err := as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{Names: []string{"fleet-b", "fleet-a"}}); errorCode(err) != "InternalServerError" {
		t.Errorf("batched DescribeFleets: %v, want InternalServerError", err)
	}
	if _, err := as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{Names: []string{"fleet-b"}}); err != nil {
		t.Errorf("DescribeFleets of fleet-b: %v", err)
	}
	all, err := as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
	if err != nil || len(all.Fleets) != 3 {
		t.Errorf("DescribeFleets of all: %v, %v", all, err)
	}
	register := func(fleet string) error {
		_, err := aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, MinCapacity: aws.Int32(0), MaxCapacity: aws.Int32(0),
		})
		return err
	}
	if err := register("fleet-a"); errorCode(err) != "InternalServerError" {
		t.Errorf("RegisterScalableTarget fleet-a: %v", err)
	}
	if err := register("fleet-b"); err != nil {
		t.Errorf("RegisterScalableTarget fleet-b: %v", err)
	}
	targets, err := aas.DescribeScalableTargets(e.ctx, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int32{}
	for _, tg := range targets.ScalableTargets {
		got[aws.ToString(tg.ResourceId)] = [2]int32{aws.ToInt32(tg.MinCapacity), aws.ToInt32(tg.MaxCapacity)}
	}
	if diff := cmp.Diff(map[string][2]int32{"fleet/fleet-a": {1, 2}, "fleet/fleet-b": {0, 0}}, got); diff != "" {
		t.Errorf("targets (-want +got): the faulted call changed something, or the other did not:\n%s", diff)
	}
	if n := e.sim.Calls().Counts["application-autoscaling.RegisterScalableTarget!InternalServerError"]; n != 1 {
		t.Errorf("call log: %d faulted registrations, want 1", n)
	}
	if got := e.sim.Faults()[0].Injected; got != 2 {
		t.Errorf("Injected = %d, want 2", got)
	}
}
