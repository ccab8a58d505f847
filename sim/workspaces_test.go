package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"
	wstypes "github.com/aws/aws-sdk-go-v2/service/workspaces/types"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim"
)

const (
	testDir    = "d-1234567890"
	testBundle = "wsb-1234567890"
)

// wsID returns the i-th test WorkSpace id; ids sort in creation order.
func wsID(i int) string { return fmt.Sprintf("ws-test%05d", i) }

// addWorkspace adds a WorkSpace through the Go control API; mods adjust the spec.
func (e *env) addWorkspace(id string, mods ...func(*sim.WorkspaceSpec)) {
	e.t.Helper()
	spec := sim.WorkspaceSpec{WorkspaceId: id, DirectoryId: testDir, UserName: "user-" + id, BundleId: testBundle}
	for _, m := range mods {
		m(&spec)
	}
	if _, err := e.sim.CreateWorkspace(spec); err != nil {
		e.t.Fatal(err)
	}
}

func autoStop(minutes int32) func(*sim.WorkspaceSpec) {
	return func(s *sim.WorkspaceSpec) {
		s.RunningMode = sim.RunningModeAutoStop
		s.RunningModeAutoStopTimeoutInMinutes = minutes
	}
}

func (e *env) workspace(id string) wstypes.Workspace {
	e.t.Helper()
	out, err := e.ws.DescribeWorkspaces(e.ctx, &workspaces.DescribeWorkspacesInput{WorkspaceIds: []string{id}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.Workspaces) != 1 {
		e.t.Fatalf("DescribeWorkspaces %s: %d WorkSpaces", id, len(out.Workspaces))
	}
	return out.Workspaces[0]
}

func (e *env) state(id string) wstypes.WorkspaceState { return e.workspace(id).State }

func (e *env) connection(id string) wstypes.WorkspaceConnectionStatus {
	e.t.Helper()
	out, err := e.ws.DescribeWorkspacesConnectionStatus(e.ctx, &workspaces.DescribeWorkspacesConnectionStatusInput{WorkspaceIds: []string{id}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.WorkspacesConnectionStatus) != 1 {
		e.t.Fatalf("connection status of %s: %d entries", id, len(out.WorkspacesConnectionStatus))
	}
	return out.WorkspacesConnectionStatus[0]
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestWorkspaces_DescribeShape(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace("ws-abc123def", func(s *sim.WorkspaceSpec) {
		s.UserName, s.WorkspaceName = "alice", "alice-desk"
		s.RunningMode, s.RunningModeAutoStopTimeoutInMinutes = sim.RunningModeAutoStop, 120
		s.ComputeTypeName, s.RootVolumeSizeGib, s.UserVolumeSizeGib = "POWER", 175, 100
	})
	w := e.workspace("ws-abc123def")
	if w.State != wstypes.WorkspaceStateAvailable || aws.ToString(w.DirectoryId) != testDir || aws.ToString(w.BundleId) != testBundle ||
		aws.ToString(w.UserName) != "alice" || aws.ToString(w.WorkspaceName) != "alice-desk" {
		t.Errorf("workspace: %+v", w)
	}
	if !strings.HasPrefix(aws.ToString(w.IpAddress), "10.") || !strings.HasPrefix(aws.ToString(w.ComputerName), "WSAMZN-") || !strings.HasPrefix(aws.ToString(w.SubnetId), "subnet-") {
		t.Errorf("ip %q, computer %q, subnet %q", aws.ToString(w.IpAddress), aws.ToString(w.ComputerName), aws.ToString(w.SubnetId))
	}
	p := w.WorkspaceProperties
	got := fmt.Sprintf("%s %d %d %d %s %v", p.RunningMode, aws.ToInt32(p.RunningModeAutoStopTimeoutInMinutes), aws.ToInt32(p.RootVolumeSizeGib), aws.ToInt32(p.UserVolumeSizeGib), p.ComputeTypeName, p.Protocols)
	if want := "AUTO_STOP 120 175 100 POWER [WSP]"; got != want {
		t.Errorf("properties %s, want %s", got, want)
	}
}

func TestWorkspaces_DescribeFilters(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(wsID(1), func(s *sim.WorkspaceSpec) { s.UserName = "alice" })
	e.addWorkspace(wsID(2), func(s *sim.WorkspaceSpec) { s.UserName, s.WorkspaceName = "bob", "bobs-desk" })
	e.addWorkspace(wsID(3), func(s *sim.WorkspaceSpec) {
		s.DirectoryId, s.BundleId, s.UserName = "wsd-abcdefgh1", "wsb-other0001", "alice"
	})
	ids := make([]string, 26)
	for i := range ids {
		ids[i] = wsID(i + 1)
	}
	cases := []struct {
		name string
		in   workspaces.DescribeWorkspacesInput
		want []string
		code string
	}{
		{"no filter", workspaces.DescribeWorkspacesInput{}, []string{wsID(1), wsID(2), wsID(3)}, ""},
		{"ids, unknown left out", workspaces.DescribeWorkspacesInput{WorkspaceIds: []string{wsID(3), "ws-unknown001", wsID(1)}}, []string{wsID(3), wsID(1)}, ""},
		{"directory", workspaces.DescribeWorkspacesInput{DirectoryId: aws.String(testDir)}, []string{wsID(1), wsID(2)}, ""},
		{"directory and user", workspaces.DescribeWorkspacesInput{DirectoryId: aws.String(testDir), UserName: aws.String("alice")}, []string{wsID(1)}, ""},
		{"bundle", workspaces.DescribeWorkspacesInput{BundleId: aws.String("wsb-other0001")}, []string{wsID(3)}, ""},
		{"name", workspaces.DescribeWorkspacesInput{WorkspaceName: aws.String("bobs-desk")}, []string{wsID(2)}, ""},
		{"ids and directory", workspaces.DescribeWorkspacesInput{WorkspaceIds: []string{wsID(1)}, DirectoryId: aws.String(testDir)}, nil, "InvalidParameterValuesException"},
		{"directory and bundle", workspaces.DescribeWorkspacesInput{DirectoryId: aws.String(testDir), BundleId: aws.String(testBundle)}, nil, "InvalidParameterValuesException"},
		{"user alone", workspaces.DescribeWorkspacesInput{UserName: aws.String("alice")}, nil, "InvalidParameterValuesException"},
		{"Limit 26", workspaces.DescribeWorkspacesInput{Limit: aws.Int32(26)}, nil, "ValidationException"},
		{"Limit 0", workspaces.DescribeWorkspacesInput{Limit: aws.Int32(0)}, nil, "ValidationException"},
		{"26 ids", workspaces.DescribeWorkspacesInput{WorkspaceIds: ids}, nil, "ValidationException"},
		{"bad id", workspaces.DescribeWorkspacesInput{WorkspaceIds: []string{"ws-ABC"}}, nil, "ValidationException"},
		{"bad directory", workspaces.DescribeWorkspacesInput{DirectoryId: aws.String("d-xyz")}, nil, "ValidationException"},
		{"bad bundle", workspaces.DescribeWorkspacesInput{BundleId: aws.String("bundle-1")}, nil, "ValidationException"},
		{"bad token", workspaces.DescribeWorkspacesInput{NextToken: aws.String("garbage")}, nil, "InvalidParameterValuesException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := e.ws.DescribeWorkspaces(e.ctx, &c.in)
			if code := errorCode(err); code != c.code {
				t.Fatalf("error %q (%v), want %q", code, err, c.code)
			}
			if err != nil {
				return
			}
			var got []string
			for _, w := range out.Workspaces {
				got = append(got, aws.ToString(w.WorkspaceId))
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("WorkSpaces (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWorkspaces_Pagination pages 60 WorkSpaces through both Describe operations with the SDK's
// paginators and by hand.
func TestWorkspaces_Pagination(t *testing.T) {
	e := newEnv(t)
	for i := range 60 {
		e.addWorkspace(wsID(60 - i)) // out of order: the emulator sorts
	}
	var pages []int
	var seen []string
	p := workspaces.NewDescribeWorkspacesPaginator(e.ws, &workspaces.DescribeWorkspacesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		e.must(err)
		pages = append(pages, len(out.Workspaces))
		for _, w := range out.Workspaces {
			seen = append(seen, aws.ToString(w.WorkspaceId))
		}
	}
	if diff := cmp.Diff([]int{25, 25, 10}, pages); diff != "" {
		t.Errorf("DescribeWorkspaces pages (-want +got):\n%s", diff)
	}
	for i, id := range seen {
		if id != wsID(i+1) {
			t.Fatalf("item %d is %s, want %s (sorted, no repeats)", i, id, wsID(i+1))
		}
	}

	small := workspaces.NewDescribeWorkspacesPaginator(e.ws, &workspaces.DescribeWorkspacesInput{Limit: aws.Int32(7)})
	n := 0
	for small.HasMorePages() {
		out, err := small.NextPage(e.ctx)
		e.must(err)
		n += len(out.Workspaces)
	}
	if n != 60 {
		t.Errorf("Limit 7: %d WorkSpaces, want 60", n)
	}

	pages, seen = nil, nil
	// aws-sdk-go-v2 has no paginator for DescribeWorkspacesConnectionStatus: follow NextToken.
	for token := (*string)(nil); ; {
		out, err := e.ws.DescribeWorkspacesConnectionStatus(e.ctx, &workspaces.DescribeWorkspacesConnectionStatusInput{NextToken: token})
		e.must(err)
		pages = append(pages, len(out.WorkspacesConnectionStatus))
		for _, c := range out.WorkspacesConnectionStatus {
			seen = append(seen, aws.ToString(c.WorkspaceId))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if diff := cmp.Diff([]int{25, 25, 10}, pages); diff != "" {
		t.Errorf("connection status pages (-want +got):\n%s", diff)
	}
	if len(seen) != 60 || seen[0] != wsID(1) || seen[59] != wsID(60) {
		t.Errorf("connection status ids: %d, first %s, last %s", len(seen), seen[0], seen[len(seen)-1])
	}
	// A token from one operation is not valid for another.
	first, err := e.ws.DescribeWorkspaces(e.ctx, &workspaces.DescribeWorkspacesInput{})
	e.must(err)
	_, err = e.ws.DescribeWorkspacesConnectionStatus(e.ctx, &workspaces.DescribeWorkspacesConnectionStatusInput{NextToken: first.NextToken})
	if code := errorCode(err); code != "InvalidParameterValuesException" {
		t.Errorf("foreign token: %q", code)
	}
}

func TestWorkspaces_ConnectionStatus(t *testing.T) {
	e := newEnv(t)
	id := wsID(1)
	e.addWorkspace(id)
	c := e.connection(id)
	if c.ConnectionState != wstypes.ConnectionStateDisconnected || c.LastKnownUserConnectionTimestamp != nil || !aws.ToTime(c.ConnectionStateCheckTimestamp).Equal(epoch) {
		t.Errorf("never connected: %s, last %v, check %v", c.ConnectionState, c.LastKnownUserConnectionTimestamp, c.ConnectionStateCheckTimestamp)
	}
	e.advance(time.Minute)
	e.must(e.sim.ConnectWorkspace(id))
	connectedAt := epoch.Add(time.Minute)
	e.advance(time.Hour)
	c = e.connection(id)
	if c.ConnectionState != wstypes.ConnectionStateConnected || !aws.ToTime(c.LastKnownUserConnectionTimestamp).Equal(connectedAt) ||
		!aws.ToTime(c.ConnectionStateCheckTimestamp).Equal(connectedAt.Add(time.Hour)) {
		t.Errorf("connected: %s, last %v, check %v", c.ConnectionState, c.LastKnownUserConnectionTimestamp, c.ConnectionStateCheckTimestamp)
	}
	e.must(e.sim.DisconnectWorkspace(id))
	c = e.connection(id)
	if c.ConnectionState != wstypes.ConnectionStateDisconnected || !aws.ToTime(c.LastKnownUserConnectionTimestamp).Equal(connectedAt) {
		t.Errorf("disconnected: %s, last %v", c.ConnectionState, c.LastKnownUserConnectionTimestamp)
	}
	ids := make([]string, 26)
	for i := range ids {
		ids[i] = wsID(i)
	}
	for _, bad := range [][]string{ids, {}, {"ws-NOPE"}} {
		_, err := e.ws.DescribeWorkspacesConnectionStatus(e.ctx, &workspaces.DescribeWorkspacesConnectionStatusInput{WorkspaceIds: bad})
		if code := errorCode(err); code != "ValidationException" {
			t.Errorf("%d ids: %q", len(bad), code)
		}
	}
}

func TestWorkspaces_Rebuild(t *testing.T) {
	e := newEnv(t)
	id := wsID(1)
	e.addWorkspace(id)
	e.addWorkspace(wsID(2))
	e.must(e.sim.ConnectWorkspace(id))
	oldIP := aws.ToString(e.workspace(id).IpAddress)

	_, err := e.ws.RebuildWorkspaces(e.ctx, &workspaces.RebuildWorkspacesInput{RebuildWorkspaceRequests: []wstypes.RebuildRequest{
		{WorkspaceId: aws.String(id)}, {WorkspaceId: aws.String(wsID(2))}}})
	if code := errorCode(err); code != "ValidationException" || !strings.Contains(err.Error(), "less than or equal to 1") {
		t.Errorf("2 requests: %v", err)
	}
	_, err = e.ws.RebuildWorkspaces(e.ctx, &workspaces.RebuildWorkspacesInput{RebuildWorkspaceRequests: []wstypes.RebuildRequest{}})
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("0 requests: %v", err)
	}
	if e.state(wsID(2)) != wstypes.WorkspaceStateAvailable || e.state(id) != wstypes.WorkspaceStateAvailable {
		t.Fatal("a refused call changed a WorkSpace")
	}

	rebuild := func(id string) []wstypes.FailedWorkspaceChangeRequest {
		t.Helper()
		out, err := e.ws.RebuildWorkspaces(e.ctx, &workspaces.RebuildWorkspacesInput{RebuildWorkspaceRequests: []wstypes.RebuildRequest{{WorkspaceId: aws.String(id)}}})
		e.must(err)
		return out.FailedRequests
	}
	if failed := rebuild(id); len(failed) != 0 {
		t.Fatalf("rebuild: %+v", failed)
	}
	if s := e.state(id); s != wstypes.WorkspaceStateRebuilding {
		t.Errorf("after rebuild: %s", s)
	}
	if c := e.connection(id); c.ConnectionState != wstypes.ConnectionStateDisconnected {
		t.Errorf("user still %s during a rebuild", c.ConnectionState)
	}
	failed := rebuild(id)
	if len(failed) != 1 || aws.ToString(failed[0].ErrorCode) != "InvalidResourceState" || aws.ToString(failed[0].WorkspaceId) != id ||
		!strings.Contains(aws.ToString(failed[0].ErrorMessage), "REBUILDING") {
		t.Errorf("rebuild while REBUILDING: %+v", failed)
	}
	if failed := rebuild("ws-unknown001"); len(failed) != 1 || aws.ToString(failed[0].ErrorCode) != "ResourceNotFound.Workspace" {
		t.Errorf("rebuild of an unknown WorkSpace: %+v", failed)
	}
	if err := e.sim.ConnectWorkspace(id); err == nil {
		t.Error("connected to a REBUILDING WorkSpace")
	}

	e.advance(sim.DefaultTimings.WorkspaceRebuild - time.Second)
	if s := e.state(id); s != wstypes.WorkspaceStateRebuilding {
		t.Errorf("a second early: %s", s)
	}
	e.advance(time.Second)
	w := e.workspace(id)
	if w.State != wstypes.WorkspaceStateAvailable || aws.ToString(w.IpAddress) == oldIP || aws.ToString(w.IpAddress) == "" {
		t.Errorf("after WorkspaceRebuild: %s, IP %q (was %q)", w.State, aws.ToString(w.IpAddress), oldIP)
	}
	info, err := e.sim.WorkspaceStatus(id)
	e.must(err)
	if diff := cmp.Diff([]time.Time{epoch}, info.Rebuilds); diff != "" || len(info.Restores) != 0 {
		t.Errorf("rebuilds (-want +got):\n%s restores %v", diff, info.Restores)
	}

	// Allowed and refused states.
	for _, c := range []struct {
		state string
		ok    bool
	}{
		{"AVAILABLE", true}, {"ERROR", true}, {"UNHEALTHY", true}, {"STOPPED", true}, {"REBOOTING", true},
		{"RESTORING", false}, {"STARTING", false}, {"STOPPING", false}, {"SUSPENDED", false}, {"IMPAIRED", false},
	} {
		e.must(e.sim.SetWorkspaceState(wsID(2), c.state))
		failed := rebuild(wsID(2))
		if (len(failed) == 0) != c.ok {
			t.Errorf("rebuild in %s: %+v, want ok=%v", c.state, failed, c.ok)
		}
	}
}

func TestWorkspaces_Restore(t *testing.T) {
	e := newEnv(t)
	id := wsID(1)
	e.addWorkspace(id)
	ip := aws.ToString(e.workspace(id).IpAddress)
	restore := func(id string) error {
		_, err := e.ws.RestoreWorkspace(e.ctx, &workspaces.RestoreWorkspaceInput{WorkspaceId: aws.String(id)})
		return err
	}
	cases := []struct {
		name, state, id, code string
	}{
		{"REBOOTING", "REBOOTING", id, "OperationNotSupportedException"},
		{"SUSPENDED", "SUSPENDED", id, "OperationNotSupportedException"},
		{"unknown", "", "ws-unknown001", "ResourceNotFoundException"},
		{"bad id", "", "i-123", "ValidationException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.state != "" {
				e.must(e.sim.SetWorkspaceState(id, c.state))
			}
			err := restore(c.id)
			if code := errorCode(err); code != c.code {
				t.Errorf("error %q (%v), want %q", code, err, c.code)
			}
		})
	}
	var nse *wstypes.OperationNotSupportedException
	e.must(e.sim.SetWorkspaceState(id, "REBOOTING"))
	if err := restore(id); !errors.As(err, &nse) {
		t.Errorf("restore in REBOOTING is not a typed OperationNotSupportedException: %v", err)
	}
	e.must(e.sim.SetWorkspaceState(id, "ERROR"))
	e.advance(time.Minute)
	e.must(restore(id))
	if s := e.state(id); s != wstypes.WorkspaceStateRestoring {
		t.Errorf("after restore: %s", s)
	}
	e.advance(sim.DefaultTimings.WorkspaceRebuild)
	w := e.workspace(id)
	if w.State != wstypes.WorkspaceStateAvailable || aws.ToString(w.IpAddress) != ip {
		t.Errorf("after WorkspaceRebuild: %s, IP %s (was %s)", w.State, aws.ToString(w.IpAddress), ip)
	}
	info, err := e.sim.WorkspaceStatus(id)
	e.must(err)
	if diff := cmp.Diff([]time.Time{epoch.Add(time.Minute)}, info.Restores); diff != "" {
		t.Errorf("restores (-want +got):\n%s", diff)
	}
}

func TestWorkspaces_StartStopReboot(t *testing.T) {
	e := newEnv(t)
	auto, always := wsID(1), wsID(2)
	e.addWorkspace(auto, autoStop(60))
	e.addWorkspace(always)
	e.must(e.sim.ConnectWorkspace(auto))

	stop := func(ids ...string) []wstypes.FailedWorkspaceChangeRequest {
		t.Helper()
		var reqs []wstypes.StopRequest
		for _, id := range ids {
			reqs = append(reqs, wstypes.StopRequest{WorkspaceId: aws.String(id)})
		}
		out, err := e.ws.StopWorkspaces(e.ctx, &workspaces.StopWorkspacesInput{StopWorkspaceRequests: reqs})
		e.must(err)
		return out.FailedRequests
	}
	start := func(ids ...string) []wstypes.FailedWorkspaceChangeRequest {
		t.Helper()
		var reqs []wstypes.StartRequest
		for _, id := range ids {
			reqs = append(reqs, wstypes.StartRequest{WorkspaceId: aws.String(id)})
		}
		out, err := e.ws.StartWorkspaces(e.ctx, &workspaces.StartWorkspacesInput{StartWorkspaceRequests: reqs})
		e.must(err)
		return out.FailedRequests
	}
	reboot := func(ids ...string) []wstypes.FailedWorkspaceChangeRequest {
		t.Helper()
		var reqs []wstypes.RebootRequest
		for _, id := range ids {
			reqs = append(reqs, wstypes.RebootRequest{WorkspaceId: aws.String(id)})
		}
		out, err := e.ws.RebootWorkspaces(e.ctx, &workspaces.RebootWorkspacesInput{RebootWorkspaceRequests: reqs})
		e.must(err)
		return out.FailedRequests
	}
	codes := func(failed []wstypes.FailedWorkspaceChangeRequest) string {
		var out []string
		for _, f := range failed {
			out = append(out, aws.ToString(f.WorkspaceId)+":"+aws.ToString(f.ErrorCode))
		}
		return strings.Join(out, ",")
	}

	// Stop: the ALWAYS_ON one fails on its own, the AUTO_STOP one stops.
	if got, want := codes(stop(auto, always, "ws-unknown001")), always+":OperationNotSupported,ws-unknown001:ResourceNotFound.Workspace"; got != want {
		t.Errorf("stop: %s, want %s", got, want)
	}
	if s, c := e.state(auto), e.connection(auto); s != wstypes.WorkspaceStateStopping || c.ConnectionState != wstypes.ConnectionStateUnknown {
		t.Errorf("stopping: %s, %s", s, c.ConnectionState)
	}
	if got := codes(stop(auto)); got != auto+":InvalidResourceState" {
		t.Errorf("stop while STOPPING: %s", got)
	}
	e.advance(sim.DefaultTimings.WorkspaceTransition)
	if s := e.state(auto); s != wstypes.WorkspaceStateStopped {
		t.Errorf("after WorkspaceTransition: %s", s)
	}
	if got := codes(reboot(auto)); got != auto+":InvalidResourceState" {
		t.Errorf("reboot while STOPPED: %s", got)
	}
	// Start.
	if got := codes(start(auto, always)); got != always+":OperationNotSupported" {
		t.Errorf("start: %s", got)
	}
	if s := e.state(auto); s != wstypes.WorkspaceStateStarting {
		t.Errorf("starting: %s", s)
	}
	e.advance(sim.DefaultTimings.WorkspaceTransition)
	if s, c := e.state(auto), e.connection(auto); s != wstypes.WorkspaceStateAvailable || c.ConnectionState != wstypes.ConnectionStateDisconnected {
		t.Errorf("after start: %s, %s", s, c.ConnectionState)
	}
	if got := codes(start(auto)); got != auto+":InvalidResourceState" {
		t.Errorf("start while AVAILABLE: %s", got)
	}
	// Reboot disconnects.
	e.must(e.sim.ConnectWorkspace(always))
	if got := codes(reboot(always)); got != "" {
		t.Errorf("reboot: %s", got)
	}
	if s, c := e.state(always), e.connection(always); s != wstypes.WorkspaceStateRebooting || c.ConnectionState != wstypes.ConnectionStateDisconnected {
		t.Errorf("rebooting: %s, %s", s, c.ConnectionState)
	}
	if got := codes(reboot(always)); got != always+":InvalidResourceState" {
		t.Errorf("reboot while REBOOTING for 0 min: %s", got)
	}
	e.advance(sim.DefaultTimings.WorkspaceTransition)
	if s := e.state(always); s != wstypes.WorkspaceStateAvailable {
		t.Errorf("after reboot: %s", s)
	}
	// A WorkSpace stuck REBOOTING for 20 minutes may be rebooted again.
	e.must(e.sim.SetWorkspaceState(always, "REBOOTING"))
	e.advance(20 * time.Minute)
	if got := codes(reboot(always)); got != "" {
		t.Errorf("reboot when stuck: %s", got)
	}

	// List limits: 25 requests at most, at least 1.
	var many []wstypes.StartRequest
	for i := range 26 {
		many = append(many, wstypes.StartRequest{WorkspaceId: aws.String(wsID(i))})
	}
	_, err := e.ws.StartWorkspaces(e.ctx, &workspaces.StartWorkspacesInput{StartWorkspaceRequests: many})
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("26 start requests: %v", err)
	}
	_, err = e.ws.StopWorkspaces(e.ctx, &workspaces.StopWorkspacesInput{StopWorkspaceRequests: []wstypes.StopRequest{{}}})
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("stop request without id: %v", err)
	}
}

func TestWorkspaces_AutoStop(t *testing.T) {
	e := newEnv(t)
	id := wsID(1)
	e.addWorkspace(id, autoStop(60))
	e.must(e.sim.ConnectWorkspace(id))
	e.advance(3 * time.Hour) // connected: never stops
	if s := e.state(id); s != wstypes.WorkspaceStateAvailable {
		t.Fatalf("connected for 3 h: %s", s)
	}
	e.must(e.sim.DisconnectWorkspace(id))
	e.advance(59 * time.Minute)
	if s := e.state(id); s != wstypes.WorkspaceStateAvailable {
		t.Fatalf("59 min after disconnect: %s", s)
	}
	// Reconnecting restarts the countdown.
	e.must(e.sim.ConnectWorkspace(id))
	e.must(e.sim.DisconnectWorkspace(id))
	e.advance(59 * time.Minute)
	if s := e.state(id); s != wstypes.WorkspaceStateAvailable {
		t.Fatalf("59 min after the second disconnect: %s", s)
	}
	e.advance(time.Minute)
	if s, c := e.state(id), e.connection(id); s != wstypes.WorkspaceStateStopped || c.ConnectionState != wstypes.ConnectionStateUnknown {
		t.Fatalf("60 min after disconnect: %s, %s", s, c.ConnectionState)
	}
	// Connecting to the stopped WorkSpace starts it, and the user is connected once it is up.
	e.must(e.sim.ConnectWorkspace(id))
	if s := e.state(id); s != wstypes.WorkspaceStateStarting {
		t.Errorf("connecting to a STOPPED AUTO_STOP WorkSpace: %s", s)
	}
	if err := e.sim.ConnectWorkspace(id); err == nil {
		t.Error("second connect while STARTING succeeded")
	}
	e.advance(sim.DefaultTimings.WorkspaceTransition)
	c := e.connection(id)
	if s := e.state(id); s != wstypes.WorkspaceStateAvailable || c.ConnectionState != wstypes.ConnectionStateConnected ||
		!aws.ToTime(c.LastKnownUserConnectionTimestamp).Equal(e.sim.Now()) {
		t.Errorf("after start: %s, %s, last %v", s, c.ConnectionState, c.LastKnownUserConnectionTimestamp)
	}
	// A WorkSpace nobody connects to stops after the timeout too; ALWAYS_ON ones never do.
	e.addWorkspace(wsID(2), autoStop(120))
	e.addWorkspace(wsID(3))
	e.advance(2 * time.Hour)
	if s2, s3 := e.state(wsID(2)), e.state(wsID(3)); s2 != wstypes.WorkspaceStateStopped || s3 != wstypes.WorkspaceStateAvailable {
		t.Errorf("after 2 h idle: AUTO_STOP %s, ALWAYS_ON %s", s2, s3)
	}
	if err := e.sim.ConnectWorkspace(wsID(3)); err != nil {
		t.Error(err)
	}
	e.must(e.sim.SetWorkspaceState(wsID(3), "STOPPED"))
	if err := e.sim.ConnectWorkspace(wsID(3)); err == nil {
		t.Error("connect to a STOPPED ALWAYS_ON WorkSpace succeeded")
	}
}

func TestWorkspaces_Tags(t *testing.T) {
	e := newEnv(t)
	id := wsID(1)
	e.addWorkspace(id, func(s *sim.WorkspaceSpec) { s.Tags = map[string]string{"deskpilot:reset": "rebuild"} })
	tags := func(res string) map[string]string {
		t.Helper()
		out, err := e.ws.DescribeTags(e.ctx, &workspaces.DescribeTagsInput{ResourceId: aws.String(res)})
		e.must(err)
		m := map[string]string{}
		for _, tag := range out.TagList {
			m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		return m
	}
	create := func(res string, kv ...string) error {
		var list []wstypes.Tag
		for i := 0; i < len(kv); i += 2 {
			list = append(list, wstypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		_, err := e.ws.CreateTags(e.ctx, &workspaces.CreateTagsInput{ResourceId: aws.String(res), Tags: list})
		return err
	}
	if diff := cmp.Diff(map[string]string{"deskpilot:reset": "rebuild"}, tags(id)); diff != "" {
		t.Errorf("seeded tags (-want +got):\n%s", diff)
	}
	e.must(create(id, "deskpilot:reset", "restore", "team", "finance"))
	e.must(create(testDir, "owner", "it"))
	e.must(create(testBundle, "tier", "gold"))
	if diff := cmp.Diff(map[string]string{"deskpilot:reset": "restore", "team": "finance"}, tags(id)); diff != "" {
		t.Errorf("after CreateTags (-want +got):\n%s", diff)
	}
	if tags(testDir)["owner"] != "it" || tags(testBundle)["tier"] != "gold" {
		t.Error("directory or bundle tags not stored")
	}
	_, err := e.ws.DeleteTags(e.ctx, &workspaces.DeleteTagsInput{ResourceId: aws.String(id), TagKeys: []string{"team", "absent"}})
	e.must(err)
	if diff := cmp.Diff(map[string]string{"deskpilot:reset": "restore"}, tags(id)); diff != "" {
		t.Errorf("after DeleteTags (-want +got):\n%s", diff)
	}

	fifty := func(prefix string, n int) []string {
		var kv []string
		for i := range n {
			kv = append(kv, fmt.Sprintf("%s%02d", prefix, i), "v")
		}
		return kv
	}
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"ARN", create("arn:aws:workspaces:us-east-1:123456789012:workspace/"+id, "a", "b"), "InvalidParameterValuesException"},
		{"unknown WorkSpace, 51 tags", create(wsID(9), fifty("k", 51)...), "ResourceNotFoundException"},
		{"51st tag on the bundle", create(testBundle, fifty("k", 50)...), "ResourceLimitExceededException"},
		{"aws: prefix", create(id, "AWS:owner", "x"), "InvalidParameterValuesException"},
		{"key too long", create(id, strings.Repeat("k", 128), "x"), "ValidationException"},
		{"value too long", create(id, "k", strings.Repeat("v", 256)), "ValidationException"},
		{"bad character", create(id, "k", "a*b"), "InvalidParameterValuesException"},
		{"unknown WorkSpace", create("ws-unknown001", "a", "b"), "ResourceNotFoundException"},
		{"unknown directory", create("d-0000000000", "a", "b"), "ResourceNotFoundException"},
	}
	for _, c := range cases {
		if code := errorCode(c.err); code != c.code {
			t.Errorf("%s: %q (%v), want %q", c.name, code, c.err, c.code)
		}
	}
	e.addWorkspace(wsID(2))
	err = create(wsID(2), fifty("k", 51)...)
	if code := errorCode(err); code != "ResourceLimitExceededException" {
		t.Errorf("51 tags in one call: %v", err)
	}
	e.must(create(wsID(2), fifty("k", 50)...))
	e.must(create(wsID(2), "k00", "overwritten")) // overwriting does not count
	if got := tags(wsID(2)); len(got) != 50 || got["k00"] != "overwritten" {
		t.Errorf("50 tags, k00 overwritten: %d, %q", len(got), got["k00"])
	}
	_, err = e.ws.DescribeTags(e.ctx, &workspaces.DescribeTagsInput{ResourceId: aws.String("arn:aws:workspaces:us-east-1:123456789012:workspace/" + id)})
	if code := errorCode(err); code != "InvalidParameterValuesException" {
		t.Errorf("DescribeTags with an ARN: %v", err)
	}
}

func TestWorkspaces_DirectoriesAndBundles(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(wsID(1))
	e.addWorkspace(wsID(2), func(s *sim.WorkspaceSpec) {
		s.DirectoryId, s.BundleId, s.ComputeTypeName, s.RootVolumeSizeGib = "wsd-abcdefgh1", "wsb-power0001", "POWER", 175
	})
	dirs, err := e.ws.DescribeWorkspaceDirectories(e.ctx, &workspaces.DescribeWorkspaceDirectoriesInput{})
	e.must(err)
	if len(dirs.Directories) != 2 {
		t.Fatalf("%d directories", len(dirs.Directories))
	}
	d := dirs.Directories[0]
	if aws.ToString(d.DirectoryId) != testDir || d.State != wstypes.WorkspaceDirectoryStateRegistered || aws.ToString(d.RegistrationCode) == "" ||
		aws.ToString(d.Alias) != testDir || aws.ToString(d.DirectoryName) == "" || len(d.SubnetIds) != 2 {
		t.Errorf("directory: %+v", d)
	}
	one, err := e.ws.DescribeWorkspaceDirectories(e.ctx, &workspaces.DescribeWorkspaceDirectoriesInput{DirectoryIds: []string{"wsd-abcdefgh1"}})
	e.must(err)
	if len(one.Directories) != 1 || aws.ToString(one.Directories[0].DirectoryId) != "wsd-abcdefgh1" {
		t.Errorf("by id: %+v", one.Directories)
	}
	page, err := e.ws.DescribeWorkspaceDirectories(e.ctx, &workspaces.DescribeWorkspaceDirectoriesInput{Limit: aws.Int32(1)})
	e.must(err)
	if len(page.Directories) != 1 || page.NextToken == nil {
		t.Errorf("Limit 1: %d, token %v", len(page.Directories), page.NextToken)
	}
	_, err = e.ws.DescribeWorkspaceDirectories(e.ctx, &workspaces.DescribeWorkspaceDirectoriesInput{DirectoryIds: []string{"d-nothex!"}})
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("bad directory id: %v", err)
	}

	bundles, err := e.ws.DescribeWorkspaceBundles(e.ctx, &workspaces.DescribeWorkspaceBundlesInput{})
	e.must(err)
	if len(bundles.Bundles) != 2 {
		t.Fatalf("%d bundles", len(bundles.Bundles))
	}
	b := bundles.Bundles[1]
	if aws.ToString(b.BundleId) != "wsb-power0001" || b.ComputeType.Name != wstypes.ComputePower || aws.ToString(b.RootStorage.Capacity) != "175" ||
		aws.ToString(b.UserStorage.Capacity) != "50" || aws.ToString(b.Owner) != "123456789012" || aws.ToString(b.Name) == "" {
		t.Errorf("bundle: %+v", b)
	}
	amazon, err := e.ws.DescribeWorkspaceBundles(e.ctx, &workspaces.DescribeWorkspaceBundlesInput{Owner: aws.String("AMAZON")})
	e.must(err)
	if len(amazon.Bundles) != 0 {
		t.Errorf("AMAZON bundles: %d", len(amazon.Bundles))
	}
	_, err = e.ws.DescribeWorkspaceBundles(e.ctx, &workspaces.DescribeWorkspaceBundlesInput{Owner: aws.String("AMAZON"), BundleIds: []string{testBundle}})
	if code := errorCode(err); code != "InvalidParameterValuesException" {
		t.Errorf("BundleIds with Owner: %v", err)
	}
}

// controlCall makes a control API call and decodes the answer into out (when not nil).
func controlCall(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	status, data := controlRaw(t, method, url, body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, status, data, err)
		}
	}
	return status
}

// controlRaw makes a control API call and returns the status and the body.
func controlRaw(t testing.TB, method, url, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func TestWorkspaces_ControlAPI(t *testing.T) {
	e := newEnv(t)
	var created map[string]any
	status := controlCall(t, "POST", e.url+"/_sim/workspaces",
		`{"WorkspaceId":"ws-abc123def","DirectoryId":"d-1234567890","UserName":"alice","BundleId":"wsb-1234567890","RunningMode":"ALWAYS_ON","Tags":{"deskpilot:reset":"rebuild"}}`, &created)
	if status != 201 || created["WorkspaceId"] != "ws-abc123def" || created["State"] != "AVAILABLE" ||
		created["WorkspaceProperties"].(map[string]any)["RunningMode"] != "ALWAYS_ON" {
		t.Fatalf("create: %d %v", status, created)
	}
	var generated map[string]any
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces", `{"DirectoryId":"d-1234567890","UserName":"bob","BundleId":"wsb-1234567890"}`, &generated); status != 201 ||
		!regexp.MustCompile(`^ws-[0-9a-z]{9}$`).MatchString(fmt.Sprint(generated["WorkspaceId"])) {
		t.Errorf("generated id: %d %v", status, generated)
	}
	var errBody map[string]string
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"WorkspaceId":"ws-abc123def","DirectoryId":"d-1234567890","UserName":"alice","BundleId":"wsb-1234567890"}`, 409},
		{`{"WorkspaceId":"ws-ABC","DirectoryId":"d-1234567890","UserName":"alice","BundleId":"wsb-1234567890"}`, 400},
		{`{"DirectoryId":"d-xyz","UserName":"alice","BundleId":"wsb-1234567890"}`, 400},
		{`{"DirectoryId":"d-1234567890","UserName":"alice","BundleId":"bundle"}`, 400},
		{`{"DirectoryId":"d-1234567890","UserName":"alice"}`, 400},
		{`{"DirectoryId":"d-1234567890","UserName":"alice","BundleId":"wsb-1234567890","RunningMode":"SOMETIMES"}`, 400},
		{`{"DirectoryId":"d-1234567890","UserName":"alice","BundleId":"wsb-1234567890","Tags":{"aws:x":"y"}}`, 400},
		{`{"DirectoryId":"d-1234567890","UserName":"alice","BundleId":"wsb-1234567890","Colour":"red"}`, 400},
	} {
		if status := controlCall(t, "POST", e.url+"/_sim/workspaces", c.body, &errBody); status != c.want || errBody["Error"] == "" {
			t.Errorf("%s: %d %v, want %d", c.body, status, errBody, c.want)
		}
	}

	type info struct {
		Workspace          map[string]any
		ConnectionState    string
		Rebuilds, Restores []time.Time
	}
	var got info
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-abc123def/connect", "", &got); status != 200 || got.ConnectionState != "CONNECTED" {
		t.Errorf("connect: %d %+v", status, got)
	}
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-abc123def/connect", "", &errBody); status != 409 {
		t.Errorf("second connect: %d %v", status, errBody)
	}
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-abc123def/disconnect", "", &got); status != 200 || got.ConnectionState != "DISCONNECTED" {
		t.Errorf("disconnect: %d %+v", status, got)
	}
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-abc123def/disconnect", "", &errBody); status != 409 {
		t.Errorf("second disconnect: %d %v", status, errBody)
	}
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-nothere01/connect", "", &errBody); status != 404 {
		t.Errorf("connect unknown: %d %v", status, errBody)
	}
	_, err := e.ws.RebuildWorkspaces(e.ctx, &workspaces.RebuildWorkspacesInput{RebuildWorkspaceRequests: []wstypes.RebuildRequest{{WorkspaceId: aws.String("ws-abc123def")}}})
	e.must(err)
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-abc123def/connect", "", &errBody); status != 409 || !strings.Contains(errBody["Error"], "REBUILDING") {
		t.Errorf("connect while REBUILDING: %d %v", status, errBody)
	}
	var raw map[string]any
	if status := controlCall(t, "GET", e.url+"/_sim/workspaces/ws-abc123def", "", &raw); status != 200 {
		t.Fatalf("status: %d", status)
	}
	for _, k := range []string{"Workspace", "ConnectionState", "Rebuilds", "Restores"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("GET /_sim/workspaces/{id} lacks %s: %v", k, raw)
		}
	}
	if rb := raw["Rebuilds"].([]any); len(rb) != 1 || rb[0] != epoch.Format(time.RFC3339) {
		t.Errorf("Rebuilds: %v", raw["Rebuilds"])
	}
	if rs := raw["Restores"].([]any); len(rs) != 0 {
		t.Errorf("Restores: %v", raw["Restores"])
	}
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-abc123def/state", `{"State":"ERROR"}`, &got); status != 200 || got.Workspace["State"] != "ERROR" {
		t.Errorf("state: %d %+v", status, got)
	}
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-abc123def/state", `{"State":"BROKEN"}`, &errBody); status != 400 {
		t.Errorf("bad state: %d %v", status, errBody)
	}
	if status := controlCall(t, "POST", e.url+"/_sim/workspaces/ws-nothere01/state", `{"State":"ERROR"}`, &errBody); status != 404 {
		t.Errorf("state of unknown: %d %v", status, errBody)
	}
	if status := controlCall(t, "GET", e.url+"/_sim/workspaces/ws-nothere01", "", &errBody); status != 404 {
		t.Errorf("GET unknown: %d %v", status, errBody)
	}
	// The estate is the one the AWS API sees, and reset forgets it.
	if e.state("ws-abc123def") != wstypes.WorkspaceStateError {
		t.Error("control state not visible through DescribeWorkspaces")
	}
	controlCall(t, "POST", e.url+"/_sim/reset", "", nil)
	out, err := e.ws.DescribeWorkspaces(e.ctx, &workspaces.DescribeWorkspacesInput{})
	e.must(err)
	if len(out.Workspaces) != 0 {
		t.Errorf("after reset: %d WorkSpaces", len(out.Workspaces))
	}
}

func TestWorkspaces_Seed(t *testing.T) {
	e := newEnv(t)
	seed := `
Workspaces:
  - {WorkspaceId: ws-abc123def, DirectoryId: d-1234567890, UserName: alice, BundleId: wsb-1234567890, RunningMode: AUTO_STOP, Tags: {"deskpilot:reset": rebuild}}
  - {WorkspaceId: ws-abc123deg, DirectoryId: d-1234567890, UserName: bob, BundleId: wsb-1234567890, State: STOPPED, RunningMode: AUTO_STOP}
`
	e.must(e.sim.LoadSeed(strings.NewReader(seed)))
	if s := e.state("ws-abc123deg"); s != wstypes.WorkspaceStateStopped {
		t.Errorf("seeded STOPPED: %s", s)
	}
	w := e.workspace("ws-abc123def")
	if w.WorkspaceProperties.RunningMode != wstypes.RunningModeAutoStop || aws.ToInt32(w.WorkspaceProperties.RunningModeAutoStopTimeoutInMinutes) != 60 {
		t.Errorf("seeded properties: %+v", w.WorkspaceProperties)
	}
	err := e.sim.LoadSeed(strings.NewReader("Workspaces:\n  - {WorkspaceId: ws-abc123def, DirectoryId: d-1234567890, UserName: a, BundleId: wsb-1234567890}\n"))
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate seed: %v", err)
	}
	if err := e.sim.LoadSeed(bytes.NewReader([]byte("Workspaces:\n  - {Workspaceid: x}\n"))); err == nil {
		t.Error("unknown seed key accepted")
	}
}
