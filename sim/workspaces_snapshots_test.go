package sim_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"
	wstypes "github.com/aws/aws-sdk-go-v2/service/workspaces/types"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim"
)

func age(d string) func(*sim.WorkspaceSpec) { return func(s *sim.WorkspaceSpec) { s.Age = d } }

func (e *env) snapshots(id string) (rebuild, restore []time.Time) {
	e.t.Helper()
	out, err := e.ws.DescribeWorkspaceSnapshots(e.ctx, &workspaces.DescribeWorkspaceSnapshotsInput{WorkspaceId: aws.String(id)})
	e.must(err)
	for _, s := range out.RebuildSnapshots {
		rebuild = append(rebuild, aws.ToTime(s.SnapshotTime).UTC())
	}
	for _, s := range out.RestoreSnapshots {
		restore = append(restore, aws.ToTime(s.SnapshotTime).UTC())
	}
	return rebuild, restore
}

func (e *env) rebuild(id string) []wstypes.FailedWorkspaceChangeRequest {
	e.t.Helper()
	out, err := e.ws.RebuildWorkspaces(e.ctx, &workspaces.RebuildWorkspacesInput{RebuildWorkspaceRequests: []wstypes.RebuildRequest{{WorkspaceId: aws.String(id)}}})
	e.must(err)
	return out.FailedRequests
}

func (e *env) setState(id string, state wstypes.TargetWorkspaceState) error {
	_, err := e.ws.ModifyWorkspaceState(e.ctx, &workspaces.ModifyWorkspaceStateInput{WorkspaceId: aws.String(id), WorkspaceState: state})
	return err
}

// Snapshots every 12 hours from creation; none, and no rebuild or restore, in the first 12.
func TestWorkspaces_Snapshots(t *testing.T) {
	e := newEnv(t)
	young, seeded := wsID(1), wsID(2)
	e.addWorkspace(young, age("0s"))
	e.addWorkspace(seeded) // created 24 h before it was added

	if rb, rs := e.snapshots(young); len(rb) != 0 || len(rs) != 0 {
		t.Errorf("a new WorkSpace has snapshots %v %v", rb, rs)
	}
	failed := e.rebuild(young)
	if len(failed) != 1 || aws.ToString(failed[0].ErrorCode) != "InvalidResourceState" || !strings.Contains(aws.ToString(failed[0].ErrorMessage), "12 hours") {
		t.Errorf("rebuild of a new WorkSpace: %+v", failed)
	}
	_, err := e.ws.RestoreWorkspace(e.ctx, &workspaces.RestoreWorkspaceInput{WorkspaceId: aws.String(young)})
	if errorCode(err) != "OperationNotSupportedException" || !strings.Contains(err.Error(), "no snapshot") {
		t.Errorf("restore of a new WorkSpace: %v", err)
	}
	if rb, rs := e.snapshots(seeded); !cmp.Equal(rb, []time.Time{epoch}) || !cmp.Equal(rs, []time.Time{epoch}) {
		t.Errorf("seeded WorkSpace's snapshots %v %v, want one at %v", rb, rs, epoch)
	}

	e.advance(12*time.Hour - time.Second)
	if rb, _ := e.snapshots(young); len(rb) != 0 {
		t.Errorf("a second before 12 hours: %v", rb)
	}
	if failed := e.rebuild(young); len(failed) != 1 {
		t.Errorf("rebuilt a second before its first snapshot")
	}
	e.advance(time.Second)
	at12 := epoch.Add(12 * time.Hour)
	if rb, rs := e.snapshots(young); !cmp.Equal(rb, []time.Time{at12}) || !cmp.Equal(rs, []time.Time{at12}) {
		t.Errorf("after 12 hours: %v %v, want %v", rb, rs, at12)
	}
	if rb, _ := e.snapshots(seeded); !cmp.Equal(rb, []time.Time{at12}) {
		t.Errorf("seeded WorkSpace after 12 hours: %v, want only the latest, %v", rb, at12)
	}

	// The rebuild takes the user volume from the latest snapshot; another follows it.
	e.advance(5 * time.Hour)
	if failed := e.rebuild(young); len(failed) != 0 {
		t.Fatalf("rebuild after the first snapshot: %+v", failed)
	}
	e.advance(sim.DefaultTimings.WorkspaceRebuild + 30*time.Minute)
	info, err := e.sim.WorkspaceStatus(young)
	e.must(err)
	after := epoch.Add(17*time.Hour + sim.DefaultTimings.WorkspaceRebuild + 30*time.Minute)
	if diff := cmp.Diff([]time.Time{at12, after}, info.Snapshots); diff != "" {
		t.Errorf("snapshots (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Time{at12}, info.ResetFrom); diff != "" {
		t.Errorf("reset from (-want +got):\n%s", diff)
	}
	if rb, _ := e.snapshots(young); !cmp.Equal(rb, []time.Time{after}) {
		t.Errorf("latest after the rebuild: %v, want %v", rb, after)
	}

	_, err = e.ws.DescribeWorkspaceSnapshots(e.ctx, &workspaces.DescribeWorkspaceSnapshotsInput{WorkspaceId: aws.String("ws-unknown001")})
	if errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown WorkSpace: %v", err)
	}
	_, err = e.ws.DescribeWorkspaceSnapshots(e.ctx, &workspaces.DescribeWorkspaceSnapshotsInput{WorkspaceId: aws.String("nope")})
	if errorCode(err) != "ValidationException" {
		t.Errorf("bad id: %v", err)
	}
	if _, err := e.sim.CreateWorkspace(sim.WorkspaceSpec{DirectoryId: testDir, UserName: "x", BundleId: testBundle, Age: "-1h"}); err == nil {
		t.Error("a negative Age was accepted")
	}
}

// A failed modification (UPDATE_FAILED) blocks a rebuild until it is cleared.
func TestWorkspaces_RebuildUpdateFailed(t *testing.T) {
	e := newEnv(t)
	id := wsID(1)
	e.addWorkspace(id, func(s *sim.WorkspaceSpec) { s.ModificationStates = map[string]string{"COMPUTE_TYPE": "UPDATE_FAILED"} })
	w := e.workspace(id)
	if len(w.ModificationStates) != 1 || w.ModificationStates[0].Resource != "COMPUTE_TYPE" || w.ModificationStates[0].State != "UPDATE_FAILED" {
		t.Errorf("ModificationStates %+v", w.ModificationStates)
	}
	failed := e.rebuild(id)
	if len(failed) != 1 || aws.ToString(failed[0].ErrorCode) != "InvalidResourceState" || !strings.Contains(aws.ToString(failed[0].ErrorMessage), "UPDATE_FAILED") {
		t.Errorf("rebuild with UPDATE_FAILED: %+v", failed)
	}
	e.must(e.sim.SetWorkspaceModification(id, "COMPUTE_TYPE", ""))
	if failed := e.rebuild(id); len(failed) != 0 {
		t.Errorf("rebuild once cleared: %+v", failed)
	}
	if err := e.sim.SetWorkspaceModification(id, "DISK", "UPDATE_FAILED"); err == nil {
		t.Error("an unknown resource was accepted")
	}
	if _, err := e.sim.CreateWorkspace(sim.WorkspaceSpec{DirectoryId: testDir, UserName: "x", BundleId: testBundle,
		ModificationStates: map[string]string{"USER_VOLUME": "BROKEN"}}); err == nil {
		t.Error("an unknown modification state was accepted")
	}
}

// ADMIN_MAINTENANCE: only from AVAILABLE or STOPPED; no new logins (a connected user stays);
// no rebuild, restore, reboot, start or stop; AVAILABLE again lets users in.
func TestWorkspaces_ModifyWorkspaceState(t *testing.T) {
	e := newEnv(t)
	id, busy, stopped := wsID(1), wsID(2), wsID(3)
	e.addWorkspace(id, autoStop(60))
	e.addWorkspace(busy)
	e.addWorkspace(stopped, autoStop(60))
	e.must(e.sim.SetWorkspaceState(stopped, sim.WorkspaceStopped))

	e.must(e.setState(id, wstypes.TargetWorkspaceStateAdminMaintenance))
	if s := e.state(id); s != wstypes.WorkspaceStateAdminMaintenance {
		t.Fatalf("state %s", s)
	}
	e.must(e.setState(id, wstypes.TargetWorkspaceStateAdminMaintenance)) // again: no change
	err := e.sim.ConnectWorkspace(id)
	var ce *sim.ControlError
	if !errors.As(err, &ce) || ce.Status != 409 || !strings.Contains(err.Error(), "ADMIN_MAINTENANCE") {
		t.Errorf("connect in ADMIN_MAINTENANCE: %v", err)
	}
	if c := e.connection(id); c.ConnectionState != wstypes.ConnectionStateDisconnected {
		t.Errorf("connection %s", c.ConnectionState)
	}
	if failed := e.rebuild(id); len(failed) != 1 || !strings.Contains(aws.ToString(failed[0].ErrorMessage), "ADMIN_MAINTENANCE") {
		t.Errorf("rebuild in ADMIN_MAINTENANCE: %+v", failed)
	}
	if _, err := e.ws.RestoreWorkspace(e.ctx, &workspaces.RestoreWorkspaceInput{WorkspaceId: aws.String(id)}); errorCode(err) != "OperationNotSupportedException" {
		t.Errorf("restore in ADMIN_MAINTENANCE: %v", err)
	}
	out, err := e.ws.StopWorkspaces(e.ctx, &workspaces.StopWorkspacesInput{StopWorkspaceRequests: []wstypes.StopRequest{{WorkspaceId: aws.String(id)}}})
	e.must(err)
	if len(out.FailedRequests) != 1 {
		t.Errorf("stop in ADMIN_MAINTENANCE: %+v", out.FailedRequests)
	}
	e.advance(2 * time.Hour) // longer than the auto-stop timeout
	if s := e.state(id); s != wstypes.WorkspaceStateAdminMaintenance {
		t.Errorf("an AUTO_STOP WorkSpace in ADMIN_MAINTENANCE became %s", s)
	}
	e.must(e.setState(id, wstypes.TargetWorkspaceStateAvailable))
	if s := e.state(id); s != wstypes.WorkspaceStateAvailable {
		t.Errorf("back: %s", s)
	}
	e.must(e.sim.ConnectWorkspace(id))

	// A connected user stays connected through ADMIN_MAINTENANCE.
	e.must(e.sim.ConnectWorkspace(busy))
	e.must(e.setState(busy, wstypes.TargetWorkspaceStateAdminMaintenance))
	if c := e.connection(busy); c.ConnectionState != wstypes.ConnectionStateConnected {
		t.Errorf("the connected user was dropped: %s", c.ConnectionState)
	}

	// From STOPPED, and back to AVAILABLE.
	e.must(e.setState(stopped, wstypes.TargetWorkspaceStateAdminMaintenance))
	e.must(e.setState(stopped, wstypes.TargetWorkspaceStateAvailable))
	if s := e.state(stopped); s != wstypes.WorkspaceStateAvailable {
		t.Errorf("stopped → maintenance → %s", s)
	}

	for _, st := range []string{"REBUILDING", "ERROR", "UNHEALTHY", "STARTING"} {
		e.must(e.sim.SetWorkspaceState(stopped, st))
		if err := e.setState(stopped, wstypes.TargetWorkspaceStateAdminMaintenance); errorCode(err) != "InvalidResourceStateException" {
			t.Errorf("ADMIN_MAINTENANCE from %s: %v", st, err)
		}
		if err := e.setState(stopped, wstypes.TargetWorkspaceStateAvailable); errorCode(err) != "InvalidResourceStateException" {
			t.Errorf("AVAILABLE from %s: %v", st, err)
		}
	}
	if err := e.setState("ws-unknown001", wstypes.TargetWorkspaceStateAvailable); errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown WorkSpace: %v", err)
	}
	if err := e.setState(id, "STOPPED"); errorCode(err) != "ValidationException" {
		t.Errorf("target STOPPED: %v", err)
	}
}
