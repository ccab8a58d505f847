package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"
	wstypes "github.com/aws/aws-sdk-go-v2/service/workspaces/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deskpilot/deskpilot/sim"
)

// defectImage creates an image with a defect.
func (e *env) defectImage(name, defect string) {
	e.t.Helper()
	if _, err := e.sim.CreateImage(sim.ImageSpec{Name: name, Defect: defect}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) updateImage(fleet, image string) {
	e.t.Helper()
	if _, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String(fleet), ImageName: aws.String(image)}); err != nil {
		e.t.Fatal(err)
	}
}

// TestImageDefect_InstancesFail checks that a fleet on an instances-fail image never gets its
// capacity and says so in FleetErrors, however it came to use the image, and that pointing it
// back at a good image clears the error and brings the instances up.
func TestImageDefect_InstancesFail(t *testing.T) {
	tests := []struct {
		name string
		// onBad puts fleet "f" on image "bad" with Desired 2.
		onBad func(e *env)
	}{
		{"started on the image", func(e *env) {
			_, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{
				Name: aws.String("f"), InstanceType: aws.String("stream.standard.medium"),
				FleetType: astypes.FleetTypeAlwaysOn, ImageName: aws.String("bad"),
				ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(2)},
			})
			if err != nil {
				e.t.Fatal(err)
			}
			if _, err := e.as.StartFleet(e.ctx, &appstream.StartFleetInput{Name: aws.String("f")}); err != nil {
				e.t.Fatal(err)
			}
		}},
		{"updated to the image while running", func(e *env) {
			e.runningFleet("f", "good", 2)
			e.updateImage("f", "bad")
		}},
		{"seeded running on the image", func(e *env) {
			if err := e.sim.ApplySeed(sim.Seed{Fleets: []sim.SeedFleet{{Name: "f", ImageName: "bad", DesiredInstances: 2}}}); err != nil {
				e.t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.image("good", "")
			e.defectImage("bad", sim.ImageDefectInstancesFail)
			tt.onBad(e)
			// Long enough for the fleet to start, any roll-over to finish and any instance to
			// provision many times over.
			e.advance(2 * time.Hour)

			f := e.fleet("f")
			if got, want := e.capacity("f"), (capacity{Desired: 2}); got != want {
				t.Errorf("capacity on the bad image = %+v, want %+v", got, want)
			}
			if f.State != astypes.FleetStateRunning {
				t.Errorf("State = %s, want RUNNING", f.State)
			}
			if len(f.FleetErrors) != 1 || f.FleetErrors[0].ErrorCode != astypes.FleetErrorCodeInternalServiceError ||
				!strings.Contains(aws.ToString(f.FleetErrors[0].ErrorMessage), "image bad") {
				t.Errorf("FleetErrors = %+v, want one INTERNAL_SERVICE_ERROR naming image bad", f.FleetErrors)
			}
			ins, err := e.sim.Instances("f")
			if err != nil {
				t.Fatal(err)
			}
			live := 0
			for _, in := range ins {
				if in.State == sim.InstanceTerminating {
					continue
				}
				live++
				if in.State != sim.InstancePending || !strings.HasSuffix(in.ImageArn, "image/bad") || !in.ReadyTime.IsZero() {
					t.Errorf("instance %+v, want PENDING on image bad with no ReadyTime", in)
				}
			}
			if live != 2 {
				t.Errorf("%d live instances, want 2 (launched, never ready)", live)
			}

			e.updateImage("f", "good")
			if f := e.fleet("f"); len(f.FleetErrors) != 0 {
				t.Errorf("FleetErrors right after the update to a good image = %+v, want none", f.FleetErrors)
			}
			e.advance(sim.DefaultTimings.InstanceProvision)
			if got, want := e.capacity("f"), (capacity{Desired: 2, Running: 2, Available: 2}); got != want {
				t.Errorf("capacity back on the good image = %+v, want %+v", got, want)
			}
		})
	}
}

// TestImageDefect_InstancesFailNeedsWantedCapacity checks that a fleet on an instances-fail
// image reports no error while it wants no capacity.
func TestImageDefect_InstancesFailNeedsWantedCapacity(t *testing.T) {
	tests := []struct {
		name    string
		state   string
		desired int32
	}{
		{"stopped", sim.FleetStopped, 2},
		{"running with Desired 0", sim.FleetRunning, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.defectImage("bad", sim.ImageDefectInstancesFail)
			seed := sim.Seed{Fleets: []sim.SeedFleet{{Name: "f", ImageName: "bad", DesiredInstances: tt.desired, State: tt.state}}}
			if err := e.sim.ApplySeed(seed); err != nil {
				t.Fatal(err)
			}
			e.advance(time.Hour)
			if f := e.fleet("f"); len(f.FleetErrors) != 0 {
				t.Errorf("FleetErrors = %+v, want none", f.FleetErrors)
			}
		})
	}
}

// TestImageDefect_SlowStart checks that instances from a slow-start image take ten times
// InstanceProvision, on the manual clock.
func TestImageDefect_SlowStart(t *testing.T) {
	tests := []struct {
		defect string
		ready  time.Duration
	}{
		{"", sim.DefaultTimings.InstanceProvision},
		{sim.ImageDefectSlowStart, 10 * sim.DefaultTimings.InstanceProvision},
	}
	for _, tt := range tests {
		t.Run("defect="+tt.defect, func(t *testing.T) {
			e := newEnv(t)
			e.defectImage("img", tt.defect)
			_, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{
				Name: aws.String("f"), InstanceType: aws.String("stream.standard.medium"),
				FleetType: astypes.FleetTypeAlwaysOn, ImageName: aws.String("img"),
				ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(2)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.as.StartFleet(e.ctx, &appstream.StartFleetInput{Name: aws.String("f")}); err != nil {
				t.Fatal(err)
			}
			e.advance(tt.ready - time.Second)
			if got := e.capacity("f"); got.Running != 0 {
				t.Errorf("a second before %v: Running = %d, want 0", tt.ready, got.Running)
			}
			e.advance(time.Second)
			if got, want := e.capacity("f"), (capacity{Desired: 2, Running: 2, Available: 2}); got != want {
				t.Errorf("at %v: capacity = %+v, want %+v", tt.ready, got, want)
			}
			ins, err := e.sim.Instances("f")
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range ins {
				if took := in.ReadyTime.Sub(in.LaunchTime); took != tt.ready {
					t.Errorf("instance %s took %v, want %v", in.InstanceId, took, tt.ready)
				}
			}
			if f := e.fleet("f"); len(f.FleetErrors) != 0 {
				t.Errorf("FleetErrors = %+v, want none", f.FleetErrors)
			}
		})
	}
}

// TestImageDefect_Validation checks every way of creating an image with a Defect: the allowed
// values are accepted, anything else is a 400 naming them and creates nothing.
func TestImageDefect_Validation(t *testing.T) {
	create := map[string]func(e *env, name, defect string) (int, string){
		"control API": func(e *env, name, defect string) (int, string) {
			body, _ := json.Marshal(map[string]string{"Name": name, "Defect": defect})
			resp, err := http.Post(e.url+"/_sim/appstream/images", "application/json", bytes.NewReader(body))
			if err != nil {
				e.t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out.Error
		},
		"Go": func(e *env, name, defect string) (int, string) {
			_, err := e.sim.CreateImage(sim.ImageSpec{Name: name, Defect: defect})
			var ce *sim.ControlError
			switch {
			case err == nil:
				return http.StatusCreated, ""
			case errors.As(err, &ce):
				return ce.Status, ce.Message
			}
			return 0, err.Error()
		},
		"seed": func(e *env, name, defect string) (int, string) {
			err := e.sim.LoadSeed(strings.NewReader("Images:\n  - {Name: " + name + ", Defect: \"" + defect + "\"}\n"))
			var ce *sim.ControlError
			switch {
			case err == nil:
				return http.StatusCreated, ""
			case errors.As(err, &ce):
				return ce.Status, err.Error()
			}
			return 0, err.Error()
		},
	}
	tests := []struct {
		defect string
		status int
	}{
		{"", http.StatusCreated},
		{sim.ImageDefectInstancesFail, http.StatusCreated},
		{sim.ImageDefectSlowStart, http.StatusCreated},
		{"broken", http.StatusBadRequest},
		{"Slow-Start", http.StatusBadRequest},
	}
	for how, create := range create {
		for _, tt := range tests {
			t.Run(how+"/"+tt.defect, func(t *testing.T) {
				e := newEnv(t)
				status, msg := create(e, "img-x", tt.defect)
				if status != tt.status {
					t.Fatalf("status %d (%q), want %d", status, msg, tt.status)
				}
				_, err := e.as.DescribeImages(e.ctx, &appstream.DescribeImagesInput{Names: []string{"img-x"}})
				if tt.status == http.StatusCreated {
					if err != nil {
						t.Errorf("DescribeImages of the created image: %v", err)
					}
					return
				}
				for _, want := range []string{`"instances-fail"`, `"slow-start"`, `"` + tt.defect + `"`} {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q does not name %s", msg, want)
					}
				}
				if code := errorCode(err); code != "ResourceNotFoundException" {
					t.Errorf("DescribeImages after a refused image: %q, want ResourceNotFoundException", code)
				}
			})
		}
	}
}

// TestCalls_Resource checks the Resource and ImageName of each logged call, failed attempts
// included, and that the log tells in which order fleets were given which image.
func TestCalls_Resource(t *testing.T) {
	e := newEnv(t)
	err := e.sim.ApplySeed(sim.Seed{
		Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2"}},
		Fleets: []sim.SeedFleet{
			{Name: "fleet-a", ImageName: "img-1", DesiredInstances: 1},
			{Name: "fleet-b", ImageName: "img-1", DesiredInstances: 1},
		},
		Stacks:     []sim.SeedStack{{Name: "stack-a"}},
		Workspaces: []sim.WorkspaceSpec{{WorkspaceId: "ws-aaaaaaaa1", DirectoryId: "d-1234567890", UserName: "alice", BundleId: "wsb-1234567890"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:appstream:us-east-1:123456789012:"
	as := func(op, resource, image, code string) sim.Call {
		return sim.Call{Service: sim.ServiceAppStream, Operation: op, Resource: resource, ImageName: image, ErrorCode: code}
	}
	tests := []struct {
		name string
		call func() error
		want []sim.Call
	}{
		{"UpdateFleet by ImageName", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("fleet-a"), ImageName: aws.String("img-2")})
			return err
		}, []sim.Call{as("UpdateFleet", "fleet-a", "img-2", "")}},
		{"UpdateFleet by ImageArn", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("fleet-b"), ImageArn: aws.String(arn + "image/img-2")})
			return err
		}, []sim.Call{as("UpdateFleet", "fleet-b", "img-2", "")}},
		{"UpdateFleet of no image", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("fleet-a"), DisplayName: aws.String("A")})
			return err
		}, []sim.Call{as("UpdateFleet", "fleet-a", "", "")}},
		{"UpdateFleet throttled once, then retried", func() error {
			if err := e.sim.AddFault(sim.Fault{Service: sim.ServiceAppStream, Operation: "UpdateFleet", ErrorCode: "ThrottlingException", Count: 1}); err != nil {
				t.Fatal(err)
			}
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("fleet-b"), ImageName: aws.String("img-1")})
			return err
		}, []sim.Call{as("UpdateFleet", "fleet-b", "img-1", "ThrottlingException"), as("UpdateFleet", "fleet-b", "img-1", "")}},
		{"UpdateFleet refused", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("fleet-a"), ImageName: aws.String("img-missing")})
			if errorCode(err) != "ResourceNotFoundException" {
				t.Errorf("UpdateFleet to a missing image: %v", err)
			}
			return nil
		}, []sim.Call{as("UpdateFleet", "fleet-a", "img-missing", "ResourceNotFoundException")}},
		{"TagResource of a fleet", func() error {
			_, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn + "fleet/fleet-a"), Tags: map[string]string{"k": "v"}})
			return err
		}, []sim.Call{as("TagResource", "fleet-a", "", "")}},
		{"TagResource of an image", func() error {
			_, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn + "image/img-2"), Tags: map[string]string{"k": "v"}})
			return err
		}, []sim.Call{as("TagResource", "img-2", "", "")}},
		{"UntagResource", func() error {
			_, err := e.as.UntagResource(e.ctx, &appstream.UntagResourceInput{ResourceArn: aws.String(arn + "fleet/fleet-b"), TagKeys: []string{"k"}})
			return err
		}, []sim.Call{as("UntagResource", "fleet-b", "", "")}},
		{"ListTagsForResource", func() error {
			_, err := e.as.ListTagsForResource(e.ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(arn + "fleet/fleet-a")})
			return err
		}, []sim.Call{as("ListTagsForResource", "fleet-a", "", "")}},
		{"DescribeFleets of one", func() error {
			_, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{Names: []string{"fleet-a"}})
			return err
		}, []sim.Call{as("DescribeFleets", "fleet-a", "", "")}},
		{"DescribeFleets of two", func() error {
			_, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{Names: []string{"fleet-a", "fleet-b"}})
			return err
		}, []sim.Call{as("DescribeFleets", "", "", "")}},
		{"DescribeFleets of all", func() error {
			_, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
			return err
		}, []sim.Call{as("DescribeFleets", "", "", "")}},
		{"StopFleet", func() error {
			_, err := e.as.StopFleet(e.ctx, &appstream.StopFleetInput{Name: aws.String("fleet-b")})
			return err
		}, []sim.Call{as("StopFleet", "fleet-b", "", "")}},
		{"AssociateFleet names a fleet and a stack", func() error {
			_, err := e.as.AssociateFleet(e.ctx, &appstream.AssociateFleetInput{FleetName: aws.String("fleet-a"), StackName: aws.String("stack-a")})
			return err
		}, []sim.Call{as("AssociateFleet", "", "", "")}},
		{"RegisterScalableTarget", func() error { return e.register("fleet-a", 1, 2) },
			[]sim.Call{{Service: sim.ServiceAutoScaling, Operation: "RegisterScalableTarget", Resource: "fleet-a"}}},
		{"RebuildWorkspaces of one", func() error {
			_, err := e.ws.RebuildWorkspaces(e.ctx, &workspaces.RebuildWorkspacesInput{RebuildWorkspaceRequests: []wstypes.RebuildRequest{{WorkspaceId: aws.String("ws-aaaaaaaa1")}}})
			return err
		}, []sim.Call{{Service: sim.ServiceWorkSpaces, Operation: "RebuildWorkspaces", Resource: "ws-aaaaaaaa1"}}},
		{"DescribeWorkspaces of two", func() error {
			_, err := e.ws.DescribeWorkspaces(e.ctx, &workspaces.DescribeWorkspacesInput{WorkspaceIds: []string{"ws-aaaaaaaa1", "ws-bbbbbbbb2"}})
			return err
		}, []sim.Call{{Service: sim.ServiceWorkSpaces, Operation: "DescribeWorkspaces"}}},
	}
	ignoreTime := cmpopts.IgnoreFields(sim.Call{}, "Time")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.sim.Calls().Calls)
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			got := e.sim.Calls().Calls[before:]
			if diff := cmp.Diff(tt.want, got, ignoreTime); diff != "" {
				t.Errorf("logged calls (-want +got):\n%s", diff)
			}
		})
	}

	// The purpose: the order in which fleets were given which image, from successful calls.
	type change struct{ Fleet, Image string }
	var changes []change
	report := e.sim.Calls()
	for _, c := range report.Calls {
		if c.Operation == "UpdateFleet" && c.ImageName != "" && c.ErrorCode == "" {
			changes = append(changes, change{c.Resource, c.ImageName})
		}
	}
	want := []change{{"fleet-a", "img-2"}, {"fleet-b", "img-2"}, {"fleet-b", "img-1"}}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("image changes (-want +got):\n%s", diff)
	}
	if got := report.Counts["appstream.UpdateFleet"]; got != 6 {
		t.Errorf("Counts[appstream.UpdateFleet] = %d, want 6 (every attempt)", got)
	}

	// Over HTTP the fields are Resource and ImageName, left out when empty.
	resp, err := http.Get(e.url + "/_sim/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw struct{ Calls []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	first, all := raw.Calls[0], raw.Calls[len(raw.Calls)-1]
	if first["Operation"] != "UpdateFleet" || first["Resource"] != "fleet-a" || first["ImageName"] != "img-2" {
		t.Errorf("first call over HTTP = %v, want UpdateFleet with Resource fleet-a and ImageName img-2", first)
	}
	if _, ok := all["Resource"]; ok {
		t.Errorf("a call naming several resources has a Resource over HTTP: %v", all)
	}
	if _, ok := all["ImageName"]; ok {
		t.Errorf("a DescribeWorkspaces call has an ImageName over HTTP: %v", all)
	}
}
