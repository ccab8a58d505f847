package sim_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim"
)

func TestAppStream_FleetLifecycle(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	created, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{
		Name: aws.String("f1"), InstanceType: aws.String("stream.standard.medium"),
		FleetType: astypes.FleetTypeAlwaysOn, ImageName: aws.String("img-1"),
		ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(2)},
		Tags:            map[string]string{"team": "finance"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := created.Fleet
	if got, want := aws.ToString(f.Arn), "arn:aws:appstream:us-east-1:123456789012:fleet/f1"; got != want {
		t.Errorf("Arn = %s, want %s", got, want)
	}
	if f.State != astypes.FleetStateStopped || f.Platform != astypes.PlatformTypeWindowsServer2022 {
		t.Errorf("new fleet: State %s Platform %s, want STOPPED WINDOWS_SERVER_2022", f.State, f.Platform)
	}
	if f.CreatedTime == nil || !f.CreatedTime.Equal(epoch) {
		t.Errorf("CreatedTime = %v, want %v (epoch seconds on the wire)", f.CreatedTime, epoch)
	}

	if _, err := e.as.StartFleet(e.ctx, &appstream.StartFleetInput{Name: aws.String("f1")}); err != nil {
		t.Fatal(err)
	}
	if got := e.fleet("f1").State; got != astypes.FleetStateStarting {
		t.Fatalf("after StartFleet: %s, want STARTING", got)
	}
	_, err = e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("f1"), DisplayName: aws.String("x")})
	if code := errorCode(err); code != "ConcurrentModificationException" {
		t.Errorf("UpdateFleet while STARTING: %s, want ConcurrentModificationException", code)
	}
	e.advance(sim.DefaultTimings.FleetStart)
	if got := e.fleet("f1").State; got != astypes.FleetStateRunning {
		t.Fatalf("after FleetStart: %s, want RUNNING", got)
	}
	if diff := cmp.Diff(capacity{2, 2, 0, 2}, e.capacity("f1")); diff != "" {
		t.Errorf("capacity when running (-want +got):\n%s", diff)
	}

	_, err = e.as.DeleteFleet(e.ctx, &appstream.DeleteFleetInput{Name: aws.String("f1")})
	if code := errorCode(err); code != "ResourceInUseException" {
		t.Errorf("DeleteFleet while RUNNING: %s, want ResourceInUseException", code)
	}
	if _, err := e.as.StopFleet(e.ctx, &appstream.StopFleetInput{Name: aws.String("f1")}); err != nil {
		t.Fatal(err)
	}
	if got := e.fleet("f1").State; got != astypes.FleetStateStopping {
		t.Fatalf("after StopFleet: %s, want STOPPING", got)
	}
	e.advance(sim.DefaultTimings.FleetStop)
	if got := e.fleet("f1").State; got != astypes.FleetStateStopped {
		t.Fatalf("after FleetStop: %s, want STOPPED", got)
	}
	if _, err := e.as.DeleteFleet(e.ctx, &appstream.DeleteFleetInput{Name: aws.String("f1")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{Names: []string{"f1"}})
	var nf *astypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("DescribeFleets of a deleted fleet: %v, want a typed ResourceNotFoundException", err)
	}
}

func TestAppStream_Errors(t *testing.T) {
	e := newEnv(t)
	e.image("img-win", "WINDOWS_SERVER_2022")
	e.image("img-linux", "AMAZON_LINUX2")
	if _, err := e.sim.CreateImage(sim.ImageSpec{Name: "img-pending", State: "PENDING"}); err != nil {
		t.Fatal(err)
	}
	e.runningFleet("running", "img-win", 1)
	fleetArn := "arn:aws:appstream:us-east-1:123456789012:fleet/running"
	tooMany := map[string]string{}
	for i := range 51 {
		tooMany[fmt.Sprintf("k%d", i)] = "v"
	}

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"unknown fleet", func() error {
			_, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{Names: []string{"nope"}})
			return err
		}, "ResourceNotFoundException"},
		{"update unknown fleet", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("nope"), ImageName: aws.String("img-win")})
			return err
		}, "ResourceNotFoundException"},
		{"bad fleet name", func() error {
			_, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{Name: aws.String("-bad name"), InstanceType: aws.String("stream.standard.small"),
				ImageName: aws.String("img-win"), ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(1)}})
			return err
		}, "ValidationException"},
		{"duplicate fleet", func() error {
			_, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{Name: aws.String("running"), InstanceType: aws.String("stream.standard.small"),
				ImageName: aws.String("img-win"), ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(1)}})
			return err
		}, "ResourceAlreadyExistsException"},
		{"aws: tag key", func() error {
			_, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(fleetArn), Tags: map[string]string{"aws:owner": "x"}})
			return err
		}, "ValidationException"},
		{"51 tags", func() error {
			_, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(fleetArn), Tags: tooMany})
			return err
		}, "ValidationException"},
		{"tag value with backslash", func() error {
			_, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(fleetArn), Tags: map[string]string{"k": `a\b`}})
			return err
		}, "ValidationException"},
		{"tag unknown resource", func() error {
			_, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(fleetArn + "x"), Tags: map[string]string{"k": "v"}})
			return err
		}, "ResourceNotFoundException"},
		{"other-platform image on a running fleet", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("running"), ImageName: aws.String("img-linux")})
			return err
		}, "IncompatibleImageException"},
		{"image not available", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("running"), ImageName: aws.String("img-pending")})
			return err
		}, "ResourceNotAvailableException"},
		{"unknown image", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("running"), ImageName: aws.String("img-missing")})
			return err
		}, "ResourceNotFoundException"},
		{"ImageName and ImageArn", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("running"), ImageName: aws.String("img-win"),
				ImageArn: aws.String("arn:aws:appstream:us-east-1:123456789012:image/img-win")})
			return err
		}, "InvalidParameterCombinationException"},
		{"stopped-only attribute on a running fleet", func() error {
			_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("running"), InstanceType: aws.String("stream.standard.large")})
			return err
		}, "OperationNotPermittedException"},
		{"Min > Max", func() error { return e.register("running", 3, 1) }, "ValidationException"},
		{"target for unknown fleet", func() error { return e.register("nope", 0, 1) }, "ValidationException"},
		{"Elastic fleet with an image", func() error {
			_, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{Name: aws.String("elastic"), InstanceType: aws.String("stream.standard.small"),
				FleetType: astypes.FleetTypeElastic, ImageName: aws.String("img-win")})
			return err
		}, "InvalidParameterCombinationException"},
		{"DescribeImages MaxResults over 25", func() error {
			_, err := e.as.DescribeImages(e.ctx, &appstream.DescribeImagesInput{MaxResults: aws.Int32(26)})
			return err
		}, "ValidationException"},
		{"DescribeSessions UserId without AuthenticationType", func() error {
			_, err := e.as.DescribeSessions(e.ctx, &appstream.DescribeSessionsInput{FleetName: aws.String("running"), StackName: aws.String("s"), UserId: aws.String("alice")})
			return err
		}, "InvalidParameterCombinationException"},
		{"bad NextToken", func() error {
			_, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{NextToken: aws.String("garbage")})
			return err
		}, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorCode(tt.call()); got != tt.want {
				t.Errorf("error code = %q, want %q", got, tt.want)
			}
		})
	}
	// None of the rejected calls changed the fleet.
	f := e.fleet("running")
	if aws.ToString(f.ImageName) != "img-win" || aws.ToString(f.InstanceType) != "stream.standard.medium" {
		t.Errorf("a rejected call changed the fleet: image %s, instance type %s", aws.ToString(f.ImageName), aws.ToString(f.InstanceType))
	}
	tags, err := e.as.ListTagsForResource(e.ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(fleetArn)})
	if err != nil || len(tags.Tags) != 0 {
		t.Errorf("rejected tag calls left tags %v (err %v)", tags.Tags, err)
	}
}

func TestAppStream_ValidationMessage(t *testing.T) {
	e := newEnv(t)
	_, err := e.as.CreateStack(e.ctx, &appstream.CreateStackInput{Name: aws.String("bad name!")})
	want := "1 validation error detected: Value 'bad name!' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v\nwant it to contain %q", err, want)
	}
}

func TestAppStream_Tags(t *testing.T) {
	e := newEnv(t)
	imageArn := e.image("img-1", "WINDOWS_SERVER_2022")
	tag := func(tags map[string]string) error {
		_, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(imageArn), Tags: tags})
		return err
	}
	if err := tag(map[string]string{"FleetName": "fleet-a/fleet-b", "ScaleImmediately": "True", "team/finance": "2024-05", "empty": ""}); err != nil {
		t.Fatal(err)
	}
	if err := tag(map[string]string{"FleetName": "fleet-c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.as.UntagResource(e.ctx, &appstream.UntagResourceInput{ResourceArn: aws.String(imageArn), TagKeys: []string{"ScaleImmediately", "absent"}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.as.ListTagsForResource(e.ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(imageArn)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"FleetName": "fleet-c", "team/finance": "2024-05", "empty": ""}, got.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	// 50 tags per resource in all: 47 more fit, 48 do not.
	more := map[string]string{}
	for i := range 48 {
		more[fmt.Sprintf("k%02d", i)] = "v"
	}
	if code := errorCode(tag(more)); code != "LimitExceededException" {
		t.Errorf("tagging past 50: %s, want LimitExceededException", code)
	}
	delete(more, "k00")
	if err := tag(more); err != nil {
		t.Errorf("tagging up to 50: %v", err)
	}
}

func TestAppStream_Pagination(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	for i := range 25 {
		_, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{
			Name: aws.String(fmt.Sprintf("fleet-%02d", i)), InstanceType: aws.String("stream.standard.small"),
			ImageName: aws.String("img-1"), ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(1)},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	first, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Fleets) != 10 || first.NextToken == nil {
		t.Fatalf("first page: %d fleets, NextToken %v; want 10 and a token", len(first.Fleets), first.NextToken)
	}
	var names []string
	var token *string
	pages := 0
	for {
		out, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, f := range out.Fleets {
			names = append(names, aws.ToString(f.Name))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if pages != 3 || len(names) != 25 || names[0] != "fleet-00" || names[24] != "fleet-24" {
		t.Errorf("paged listing: %d pages, %d fleets (%v…)", pages, len(names), names[:min(3, len(names))])
	}

	// DescribeImages has a paginator; the public base images are listed too.
	p := appstream.NewDescribeImagesPaginator(e.as, &appstream.DescribeImagesInput{MaxResults: aws.Int32(2)})
	var images []string
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Images) > 2 {
			t.Fatalf("page of %d images with MaxResults 2", len(out.Images))
		}
		for _, img := range out.Images {
			images = append(images, aws.ToString(img.Name))
		}
	}
	if len(images) != 4 {
		t.Errorf("images = %v, want the private one and three public ones", images)
	}
	private, err := e.as.DescribeImages(e.ctx, &appstream.DescribeImagesInput{Type: astypes.VisibilityTypePrivate})
	if err != nil || len(private.Images) != 1 || aws.ToString(private.Images[0].Name) != "img-1" {
		t.Errorf("Type PRIVATE: %v, %v", private, err)
	}
}

func TestAppStream_StacksAndSessions(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 2)
	e.stack("s1", "f1")

	assoc, err := e.as.ListAssociatedStacks(e.ctx, &appstream.ListAssociatedStacksInput{FleetName: aws.String("f1")})
	if err != nil || !slices.Equal(assoc.Names, []string{"s1"}) {
		t.Errorf("ListAssociatedStacks f1 = %+v, %v; want [s1]", assoc, err)
	}
	if none, err := e.as.ListAssociatedStacks(e.ctx, &appstream.ListAssociatedStacksInput{FleetName: aws.String("nope")}); err != nil || len(none.Names) != 0 {
		t.Errorf("ListAssociatedStacks of an unknown fleet = %+v, %v; want no stacks", none, err)
	}

	alice := e.session("f1", "s1", "alice")
	e.session("f1", "s1", "bob")
	_, err = e.sim.StartSession(sim.SessionSpec{FleetName: "f1", StackName: "s1", UserId: "carol"})
	var ce *sim.ControlError
	if !errors.As(err, &ce) || ce.Status != 409 {
		t.Errorf("third session on a 2-instance fleet: %v, want a 409 ControlError", err)
	}
	if diff := cmp.Diff(capacity{2, 2, 2, 0}, e.capacity("f1")); diff != "" {
		t.Errorf("capacity with two sessions (-want +got):\n%s", diff)
	}
	out, err := e.as.DescribeSessions(e.ctx, &appstream.DescribeSessionsInput{FleetName: aws.String("f1"), StackName: aws.String("s1"), Limit: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Sessions) != 1 || out.NextToken == nil {
		t.Errorf("DescribeSessions Limit 1: %d sessions, token %v", len(out.Sessions), out.NextToken)
	}
	byUser, err := e.as.DescribeSessions(e.ctx, &appstream.DescribeSessionsInput{FleetName: aws.String("f1"), StackName: aws.String("s1"),
		UserId: aws.String("alice"), AuthenticationType: astypes.AuthenticationTypeApi})
	if err != nil || len(byUser.Sessions) != 1 || aws.ToString(byUser.Sessions[0].Id) != alice || byUser.Sessions[0].State != astypes.SessionStateActive {
		t.Fatalf("DescribeSessions by user: %+v, %v", byUser, err)
	}
	_, err = e.as.DisassociateFleet(e.ctx, &appstream.DisassociateFleetInput{FleetName: aws.String("f1"), StackName: aws.String("s1")})
	if code := errorCode(err); code != "ResourceInUseException" {
		t.Errorf("DisassociateFleet with sessions: %s", code)
	}

	if _, err := e.as.ExpireSession(e.ctx, &appstream.ExpireSessionInput{SessionId: aws.String(alice)}); err != nil {
		t.Fatal(err)
	}
	// The instance alice used is recycled and a replacement provisions on the fleet's image.
	if diff := cmp.Diff(capacity{2, 1, 1, 0}, e.capacity("f1")); diff != "" {
		t.Errorf("capacity right after a session ends (-want +got):\n%s", diff)
	}
	e.advance(sim.DefaultTimings.InstanceProvision)
	if diff := cmp.Diff(capacity{2, 2, 1, 1}, e.capacity("f1")); diff != "" {
		t.Errorf("capacity once the replacement is up (-want +got):\n%s", diff)
	}
	stacks, err := e.as.DescribeStacks(e.ctx, &appstream.DescribeStacksInput{})
	if err != nil || len(stacks.Stacks) != 1 || aws.ToString(stacks.Stacks[0].Arn) != "arn:aws:appstream:us-east-1:123456789012:stack/s1" {
		t.Errorf("DescribeStacks: %+v, %v", stacks, err)
	}
}

// The scenario the issue names: 0/0 on a fleet with 3 idle and 1 in-use instance.
func TestCapacity_DrainToZero(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 4)
	e.stack("s1", "f1")
	sid := e.session("f1", "s1", "alice")
	if err := e.register("f1", 2, 6); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(capacity{4, 4, 1, 3}, e.capacity("f1")); diff != "" {
		t.Fatalf("before the drain (-want +got):\n%s", diff)
	}

	if err := e.register("f1", 0, 0); err != nil {
		t.Fatal(err)
	}
	// Idle instances are terminating: still counted until they are gone, as the metric lags.
	if got := e.capacity("f1"); got.Desired != 0 || got.InUse != 1 {
		t.Errorf("right after 0/0: %+v, want Desired 0, InUse 1", got)
	}
	e.advance(sim.DefaultTimings.InstanceTerminate)
	if diff := cmp.Diff(capacity{0, 1, 1, 0}, e.capacity("f1")); diff != "" {
		t.Errorf("once idle instances are gone (-want +got):\n%s", diff)
	}
	if _, err := e.sim.StartSession(sim.SessionSpec{FleetName: "f1", StackName: "s1", UserId: "bob"}); err == nil {
		t.Error("a new session started on a drained fleet")
	}
	// InUse stays 1 for as long as the session lasts.
	e.advance(3 * sim.DefaultTimings.InstanceTerminate)
	if got := e.capacity("f1"); got.InUse != 1 || got.Available != 0 {
		t.Errorf("while the session lasts: %+v", got)
	}
	if err := e.sim.EndSession(sid); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(capacity{0, 0, 0, 0}, e.capacity("f1")); diff != "" {
		t.Errorf("after the session ends (-want +got):\n%s", diff)
	}

	// Restoring the saved Min/Max brings the fleet back to its minimum.
	if err := e.register("f1", 2, 6); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.InstanceProvision)
	if diff := cmp.Diff(capacity{2, 2, 0, 2}, e.capacity("f1")); diff != "" {
		t.Errorf("after restoring 2/6 (-want +got):\n%s", diff)
	}
}

func TestCapacity_ImageRollover(t *testing.T) {
	e := newEnv(t)
	oldArn := e.image("img-old", "WINDOWS_SERVER_2022")
	newArn := e.image("img-new", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-old", 3)
	e.stack("s1", "f1")
	sid := e.session("f1", "s1", "alice")

	if _, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("f1"), ImageArn: aws.String(newArn)}); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(e.fleet("f1").ImageArn); got != newArn {
		t.Fatalf("fleet ImageArn = %s, want %s", got, newArn)
	}
	images := func() map[string]int {
		ins, err := e.sim.Instances("f1")
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, in := range ins {
			if in.State != sim.InstanceTerminating {
				count[in.ImageArn]++
			}
		}
		return count
	}
	// Long enough for every idle instance to be replaced; the in-use one keeps its image.
	for range 4 {
		e.advance(sim.DefaultTimings.ImageReplace + sim.DefaultTimings.InstanceProvision)
	}
	if diff := cmp.Diff(map[string]int{oldArn: 1, newArn: 2}, images()); diff != "" {
		t.Errorf("instances by image while alice streams (-want +got):\n%s", diff)
	}
	if err := e.sim.EndSession(sid); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.InstanceProvision)
	if diff := cmp.Diff(map[string]int{newArn: 3}, images()); diff != "" {
		t.Errorf("instances by image after the session (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(capacity{3, 3, 0, 3}, e.capacity("f1")); diff != "" {
		t.Errorf("capacity after the roll-over (-want +got):\n%s", diff)
	}
}

// A stop and a quick restart must not let the first start's timer finish the second.
func TestAppStream_RestartTimers(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 1)
	if _, err := e.as.StopFleet(e.ctx, &appstream.StopFleetInput{Name: aws.String("f1")}); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.FleetStop)
	if _, err := e.as.StartFleet(e.ctx, &appstream.StartFleetInput{Name: aws.String("f1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.as.StopFleet(e.ctx, &appstream.StopFleetInput{Name: aws.String("f1")}); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.FleetStop)
	if _, err := e.as.StartFleet(e.ctx, &appstream.StartFleetInput{Name: aws.String("f1")}); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.FleetStart - sim.DefaultTimings.FleetStop)
	if got := e.fleet("f1").State; got != astypes.FleetStateStarting {
		t.Errorf("state %s before the second start's delay ran out, want STARTING", got)
	}
	e.advance(sim.DefaultTimings.FleetStop)
	if got := e.fleet("f1").State; got != astypes.FleetStateRunning {
		t.Errorf("state %s after the second start's delay, want RUNNING", got)
	}
}
