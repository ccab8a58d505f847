package cloud

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"
	wstypes "github.com/aws/aws-sdk-go-v2/service/workspaces/types"

	"github.com/deskpilot/deskpilot/internal/fault"
	"github.com/deskpilot/deskpilot/internal/reset"
)

// WorkSpacesAPI lists the WorkSpaces calls deskpilot makes.
type WorkSpacesAPI interface {
	DescribeWorkspaces(context.Context, *workspaces.DescribeWorkspacesInput, ...func(*workspaces.Options)) (*workspaces.DescribeWorkspacesOutput, error)
	DescribeWorkspacesConnectionStatus(context.Context, *workspaces.DescribeWorkspacesConnectionStatusInput, ...func(*workspaces.Options)) (*workspaces.DescribeWorkspacesConnectionStatusOutput, error)
	DescribeTags(context.Context, *workspaces.DescribeTagsInput, ...func(*workspaces.Options)) (*workspaces.DescribeTagsOutput, error)
	RebuildWorkspaces(context.Context, *workspaces.RebuildWorkspacesInput, ...func(*workspaces.Options)) (*workspaces.RebuildWorkspacesOutput, error)
	RestoreWorkspace(context.Context, *workspaces.RestoreWorkspaceInput, ...func(*workspaces.Options)) (*workspaces.RestoreWorkspaceOutput, error)
	DescribeWorkspaceSnapshots(context.Context, *workspaces.DescribeWorkspaceSnapshotsInput, ...func(*workspaces.Options)) (*workspaces.DescribeWorkspaceSnapshotsOutput, error)
	ModifyWorkspaceState(context.Context, *workspaces.ModifyWorkspaceStateInput, ...func(*workspaces.Options)) (*workspaces.ModifyWorkspaceStateOutput, error)
}

// WorkSpaces implements reset.API.
type WorkSpaces struct {
	api WorkSpacesAPI
}

var _ reset.API = (*WorkSpaces)(nil)

// NewWorkSpaces wraps a WorkSpaces client.
func NewWorkSpaces(api WorkSpacesAPI) *WorkSpaces { return &WorkSpaces{api: api} }

// maxIDs is the most WorkSpace ids one Describe call takes.
const maxIDs = 25

// List returns every WorkSpace in the region (DescribeWorkspaces has a paginator).
func (w *WorkSpaces) List(ctx context.Context) ([]reset.WorkSpace, error) {
	var out []reset.WorkSpace
	p := workspaces.NewDescribeWorkspacesPaginator(w.api, &workspaces.DescribeWorkspacesInput{Limit: aws.Int32(maxIDs)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap("describe workspaces", err)
		}
		for _, ws := range page.Workspaces {
			out = append(out, workspaceOf(ws))
		}
	}
	return out, nil
}

// Get returns the named WorkSpaces that exist, by id.
func (w *WorkSpaces) Get(ctx context.Context, ids []string) (map[string]reset.WorkSpace, error) {
	out := make(map[string]reset.WorkSpace, len(ids))
	for batch := range slices.Chunk(ids, maxIDs) {
		page, err := w.api.DescribeWorkspaces(ctx, &workspaces.DescribeWorkspacesInput{WorkspaceIds: batch})
		if err != nil {
			return nil, wrap("describe workspaces", err)
		}
		for _, ws := range page.Workspaces {
			out[aws.ToString(ws.WorkspaceId)] = workspaceOf(ws)
		}
	}
	return out, nil
}

func workspaceOf(ws wstypes.Workspace) reset.WorkSpace {
	out := reset.WorkSpace{
		ID: aws.ToString(ws.WorkspaceId), DirectoryID: aws.ToString(ws.DirectoryId), UserName: aws.ToString(ws.UserName),
		BundleID: aws.ToString(ws.BundleId), State: string(ws.State), IPAddress: aws.ToString(ws.IpAddress),
	}
	if ws.WorkspaceProperties != nil {
		out.RunningMode = string(ws.WorkspaceProperties.RunningMode)
	}
	return out
}

// Tags returns a WorkSpace's tags.
func (w *WorkSpaces) Tags(ctx context.Context, id string) (map[string]string, error) {
	out, err := w.api.DescribeTags(ctx, &workspaces.DescribeTagsInput{ResourceId: aws.String(id)})
	if err != nil {
		return nil, wrap("describe tags of "+id, err)
	}
	tags := make(map[string]string, len(out.TagList))
	for _, t := range out.TagList {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// Connections returns connection states by WorkSpace id: of the named WorkSpaces, or of every
// WorkSpace (paged; the call has no paginator in the SDK) when ids is nil.
func (w *WorkSpaces) Connections(ctx context.Context, ids []string) (map[string]reset.Connection, error) {
	out := map[string]reset.Connection{}
	collect := func(in *workspaces.DescribeWorkspacesConnectionStatusInput) error {
		for {
			page, err := w.api.DescribeWorkspacesConnectionStatus(ctx, in)
			if err != nil {
				return wrap("describe connection status", err)
			}
			for _, c := range page.WorkspacesConnectionStatus {
				id := aws.ToString(c.WorkspaceId)
				out[id] = reset.Connection{ID: id, State: string(c.ConnectionState), LastConnected: timeOf(c.LastKnownUserConnectionTimestamp)}
			}
			if page.NextToken == nil {
				return nil
			}
			in.NextToken = page.NextToken
		}
	}
	if ids == nil {
		return out, collect(&workspaces.DescribeWorkspacesConnectionStatusInput{})
	}
	for batch := range slices.Chunk(ids, maxIDs) {
		if err := collect(&workspaces.DescribeWorkspacesConnectionStatusInput{WorkspaceIds: batch}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// Rebuild rebuilds one WorkSpace. A request AWS refuses (FailedRequests) is a *FailedRequest
// marked with its fault class (see refusalClass).
func (w *WorkSpaces) Rebuild(ctx context.Context, id string) error {
	out, err := w.api.RebuildWorkspaces(ctx, &workspaces.RebuildWorkspacesInput{
		RebuildWorkspaceRequests: []wstypes.RebuildRequest{{WorkspaceId: aws.String(id)}},
	})
	if err != nil {
		return wrap("rebuild "+id, err)
	}
	for _, f := range out.FailedRequests {
		code := aws.ToString(f.ErrorCode)
		return fault.Mark(&FailedRequest{Op: "rebuild " + id, Code: code, Message: aws.ToString(f.ErrorMessage)}, refusalClass(code))
	}
	return nil
}

// Restore restores one WorkSpace from its latest snapshots.
func (w *WorkSpaces) Restore(ctx context.Context, id string) error {
	_, err := w.api.RestoreWorkspace(ctx, &workspaces.RestoreWorkspaceInput{WorkspaceId: aws.String(id)})
	return wrap("restore "+id, err)
}

// Snapshots returns the times of a WorkSpace's latest snapshots of each kind: the newest listed,
// whatever the order and length of the lists.
func (w *WorkSpaces) Snapshots(ctx context.Context, id string) (reset.Snapshots, error) {
	out, err := w.api.DescribeWorkspaceSnapshots(ctx, &workspaces.DescribeWorkspaceSnapshotsInput{WorkspaceId: aws.String(id)})
	if err != nil {
		return reset.Snapshots{}, wrap("describe snapshots of "+id, err)
	}
	latest := func(list []wstypes.Snapshot) time.Time {
		var t time.Time
		for _, s := range list {
			if at := timeOf(s.SnapshotTime); at.After(t) {
				t = at
			}
		}
		return t
	}
	return reset.Snapshots{Rebuild: latest(out.RebuildSnapshots), Restore: latest(out.RestoreSnapshots)}, nil
}

// SetMaintenance sets a WorkSpace's state to ADMIN_MAINTENANCE (on) or AVAILABLE.
func (w *WorkSpaces) SetMaintenance(ctx context.Context, id string, on bool) error {
	state, op := wstypes.TargetWorkspaceStateAvailable, "put "+id+" back to AVAILABLE"
	if on {
		state, op = wstypes.TargetWorkspaceStateAdminMaintenance, "put "+id+" in ADMIN_MAINTENANCE"
	}
	_, err := w.api.ModifyWorkspaceState(ctx, &workspaces.ModifyWorkspaceStateInput{WorkspaceId: aws.String(id), WorkspaceState: state})
	return wrap(op, err)
}

// FailedRequest is an item WorkSpaces refused in a batch call (the call itself succeeded).
type FailedRequest struct {
	Op, Code, Message string
}

func (e *FailedRequest) Error() string { return fmt.Sprintf("%s: %s: %s", e.Op, e.Code, e.Message) }

// refusalClass sorts the code of a FailedRequests item into a fault class (the item is not an
// AWS error, so fault.Classify never sees its code): a WorkSpace in the wrong state may be in
// the right one later; one that does not exist will not.
func refusalClass(code string) fault.Class {
	switch {
	case code == "InvalidResourceState":
		return fault.Conflict
	case code == "ThrottlingException" || code == "Throttling":
		return fault.Throttled
	case code == "InternalFailure":
		return fault.Transient
	case strings.HasPrefix(code, "ResourceNotFound"):
		return fault.NotFound
	}
	return fault.Invalid
}
