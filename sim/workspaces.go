package sim

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// workspacesOps are the WorkSpaces operations the emulator answers (X-Amz-Target
// WorkspacesService.<Op>).
var workspacesOps = map[string]jsonOp{
	"DescribeWorkspaces":                 (*Sim).describeWorkspaces,
	"DescribeWorkspacesConnectionStatus": (*Sim).describeConnectionStatus,
	"RebuildWorkspaces":                  (*Sim).rebuildWorkspaces,
	"RestoreWorkspace":                   (*Sim).restoreWorkspace,
	"StartWorkspaces":                    (*Sim).startWorkspaces,
	"StopWorkspaces":                     (*Sim).stopWorkspaces,
	"RebootWorkspaces":                   (*Sim).rebootWorkspaces,
	"CreateTags":                         (*Sim).createWorkspaceTags,
	"DescribeTags":                       (*Sim).describeWorkspaceTags,
	"DeleteTags":                         (*Sim).deleteWorkspaceTags,
	"DescribeWorkspaceDirectories":       (*Sim).describeWorkspaceDirectories,
	"DescribeWorkspaceBundles":           (*Sim).describeWorkspaceBundles,
	"DescribeWorkspaceSnapshots":         (*Sim).describeWorkspaceSnapshots,
	"ModifyWorkspaceState":               (*Sim).modifyWorkspaceState,
}

// workspacesPageSize is the largest page of the WorkSpaces Describe operations (the model's
// Limit maximum), and the page size AWS uses when the caller gives none.
const workspacesPageSize = 25

// invalidParameters is WorkSpaces' modelled error for inputs that pass the model's constraints
// but not the service's rules.
func invalidParameters(format string, args ...any) *wire.Error {
	return wire.Errorf("InvalidParameterValuesException", format, args...)
}

// workspaceIDList checks a WorkspaceIds member: 1 to 25 ids of the WorkSpace pattern.
func (v *validation) workspaceIDList(ids []string, member string) {
	if ids == nil {
		return
	}
	v.listLen(len(ids), member, 1, 25)
	for i := range ids {
		v.pattern(&ids[i], member, workspaceIDPattern, workspaceIDRule)
	}
}

func (v *validation) directoryID(id *string, member string) {
	v.length(id, member, 10, 65)
	v.pattern(id, member, directoryIDPattern, directoryIDRule)
}

// known returns the WorkSpaces named by ids that exist, in the order given, each once. AWS
// leaves unknown ids out of Describe results rather than failing.
func (s *Sim) known(ids []string) []*workspace {
	out := make([]*workspace, 0, len(ids))
	for _, id := range ids {
		if w, ok := s.workspaces[id]; ok && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func (s *Sim) describeWorkspaces(body []byte) (any, error) {
	var in struct {
		WorkspaceIds                                              []string
		DirectoryId, UserName, BundleId, WorkspaceName, NextToken *string
		Limit                                                     *int32
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.workspaceIDList(in.WorkspaceIds, "workspaceIds")
	v.directoryID(in.DirectoryId, "directoryId")
	v.length(in.UserName, "userName", 1, 63)
	v.pattern(in.BundleId, "bundleId", bundleIDPattern, bundleIDRule)
	v.pattern(in.WorkspaceName, "workspaceName", workspaceNamePattern, workspaceNameRule)
	v.intRange(in.Limit, "limit", 1, workspacesPageSize)
	v.length(in.NextToken, "nextToken", 1, 2048)
	if err := v.err(); err != nil {
		return nil, err
	}
	filters := 0
	for _, set := range []bool{in.WorkspaceIds != nil, in.DirectoryId != nil, in.BundleId != nil, in.WorkspaceName != nil} {
		if set {
			filters++
		}
	}
	if filters > 1 {
		return nil, invalidParameters("An invalid number of parameters provided with DescribeWorkspaces. Only one of the following are allowed to be specified: BundleId, DirectoryId, WorkSpaceIds, WorkspaceName.")
	}
	if in.UserName != nil && in.DirectoryId == nil {
		return nil, invalidParameters("UserName can be specified only together with DirectoryId.")
	}
	size := workspacesPageSize
	if in.Limit != nil {
		size = int(*in.Limit)
	}
	var selected []*workspace
	switch {
	case in.WorkspaceIds != nil:
		selected = s.known(in.WorkspaceIds)
	case filters == 0:
		// Page the sorted ids and look up only one page of WorkSpaces.
		ids, next, err := page(s.workspaceIDs(), in.NextToken, size, "DescribeWorkspaces")
		if err != nil {
			return nil, err
		}
		out := make([]wireWorkspace, 0, len(ids))
		for _, id := range ids {
			out = append(out, wireWorkspaceOf(s.workspaces[id]))
		}
		return paged("Workspaces", out, next), nil
	default:
		for _, id := range s.workspaceIDs() {
			w := s.workspaces[id]
			if (in.DirectoryId == nil || w.directoryID == *in.DirectoryId) &&
				(in.UserName == nil || strings.EqualFold(w.userName, *in.UserName)) &&
				(in.BundleId == nil || w.bundleID == *in.BundleId) &&
				(in.WorkspaceName == nil || w.name == *in.WorkspaceName) {
				selected = append(selected, w)
			}
		}
	}
	ws, next, err := page(selected, in.NextToken, size, "DescribeWorkspaces")
	if err != nil {
		return nil, err
	}
	out := make([]wireWorkspace, 0, len(ws))
	for _, w := range ws {
		out = append(out, wireWorkspaceOf(w))
	}
	return paged("Workspaces", out, next), nil
}

func (s *Sim) describeConnectionStatus(body []byte) (any, error) {
	var in struct {
		WorkspaceIds []string
		NextToken    *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.workspaceIDList(in.WorkspaceIds, "workspaceIds")
	v.length(in.NextToken, "nextToken", 1, 2048)
	if err := v.err(); err != nil {
		return nil, err
	}
	var ws []*workspace
	var next *string
	if in.WorkspaceIds != nil {
		var err error
		if ws, next, err = page(s.known(in.WorkspaceIds), in.NextToken, workspacesPageSize, "DescribeWorkspacesConnectionStatus"); err != nil {
			return nil, err
		}
	} else {
		ids, nt, err := page(s.workspaceIDs(), in.NextToken, workspacesPageSize, "DescribeWorkspacesConnectionStatus")
		if err != nil {
			return nil, err
		}
		next = nt
		ws = make([]*workspace, 0, len(ids))
		for _, id := range ids {
			ws = append(ws, s.workspaces[id])
		}
	}
	out := make([]wireConnectionStatus, 0, len(ws))
	for _, w := range ws {
		out = append(out, wireConnectionStatus{
			WorkspaceId: w.id, ConnectionState: w.connectionState(),
			ConnectionStateCheckTimestamp:    wire.TimePtr(s.now),
			LastKnownUserConnectionTimestamp: wire.TimePtr(w.lastConnect),
		})
	}
	return paged("WorkspacesConnectionStatus", out, next), nil
}

// workspaceRequest is an item of RebuildWorkspaceRequests, StartWorkspaceRequests and their
// siblings.
type workspaceRequest struct {
	WorkspaceId *string
}

// failedRequest is an item of FailedRequests (the model's FailedWorkspaceChangeRequest).
type failedRequest struct {
	WorkspaceId  string `json:"WorkspaceId"`
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

// workspaceAction changes one WorkSpace or says why it cannot: an error code and message for
// FailedRequests, or "" on success.
type workspaceAction func(s *Sim, w *workspace) (code, message string)

// eachWorkspace runs a batch operation: the list is validated as the model says (1 to max
// items, each with a valid id), then every item succeeds or fails on its own, as in AWS.
func (s *Sim) eachWorkspace(reqs []workspaceRequest, member string, maxItems int, act workspaceAction) (any, error) {
	var v validation
	v.required(reqs != nil, member)
	if reqs != nil {
		v.listLen(len(reqs), member, 1, maxItems)
	}
	for i, r := range reqs {
		path := fmt.Sprintf("%s.%d.member.workspaceId", member, i+1)
		v.required(r.WorkspaceId != nil, path)
		v.pattern(r.WorkspaceId, path, workspaceIDPattern, workspaceIDRule)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	failed := []failedRequest{}
	for _, r := range reqs {
		id := *r.WorkspaceId
		w, ok := s.workspaces[id]
		if !ok {
			failed = append(failed, failedRequest{id, "ResourceNotFound.Workspace", fmt.Sprintf("The WorkSpace %s could not be found.", id)})
			continue
		}
		if code, msg := act(s, w); code != "" {
			failed = append(failed, failedRequest{id, code, msg})
		}
	}
	return map[string]any{"FailedRequests": failed}, nil
}

// stateRefused is the FailedRequests entry for a WorkSpace in a state the action refuses.
func stateRefused(w *workspace, action string, allowed ...string) (string, string) {
	return "InvalidResourceState", fmt.Sprintf("The WorkSpace is in state %s; it can be %s only in state %s.", w.state, action, strings.Join(allowed, ", "))
}

func (s *Sim) rebuildWorkspaces(body []byte) (any, error) {
	var in struct{ RebuildWorkspaceRequests []workspaceRequest }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.eachWorkspace(in.RebuildWorkspaceRequests, "rebuildWorkspaceRequests", 1, func(s *Sim, w *workspace) (string, string) {
		allowed := []string{WorkspaceAvailable, WorkspaceError, WorkspaceUnhealthy, WorkspaceStopped, WorkspaceRebooting}
		if !slices.Contains(allowed, w.state) {
			return stateRefused(w, "rebuilt", allowed...)
		}
		if why := s.rebuildRefusal(w, "rebuilt"); why != "" {
			return "InvalidResourceState", why
		}
		s.rebuild(w)
		return "", ""
	})
}

func (s *Sim) startWorkspaces(body []byte) (any, error) {
	var in struct{ StartWorkspaceRequests []workspaceRequest }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.eachWorkspace(in.StartWorkspaceRequests, "startWorkspaceRequests", 25, func(s *Sim, w *workspace) (string, string) {
		if w.runningMode == RunningModeAlwaysOn {
			return alwaysOnRefused(w, "started")
		}
		if w.state != WorkspaceStopped {
			return stateRefused(w, "started", WorkspaceStopped)
		}
		s.transition(w, WorkspaceStarting, s.timings.WorkspaceTransition, WorkspaceAvailable, nil)
		return "", ""
	})
}

// alwaysOnRefused is the FailedRequests entry for starting or stopping an ALWAYS_ON WorkSpace,
// which AWS allows only for AUTO_STOP and MANUAL ones.
func alwaysOnRefused(w *workspace, action string) (string, string) {
	return "OperationNotSupported", fmt.Sprintf("The WorkSpace %s has running mode ALWAYS_ON; only AUTO_STOP and MANUAL WorkSpaces can be %s.", w.id, action)
}

func (s *Sim) stopWorkspaces(body []byte) (any, error) {
	var in struct{ StopWorkspaceRequests []workspaceRequest }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.eachWorkspace(in.StopWorkspaceRequests, "stopWorkspaceRequests", 25, func(s *Sim, w *workspace) (string, string) {
		if w.runningMode == RunningModeAlwaysOn {
			return alwaysOnRefused(w, "stopped")
		}
		allowed := []string{WorkspaceAvailable, WorkspaceImpaired, WorkspaceUnhealthy, WorkspaceError}
		if !slices.Contains(allowed, w.state) {
			return stateRefused(w, "stopped", allowed...)
		}
		s.transition(w, WorkspaceStopping, s.timings.WorkspaceTransition, WorkspaceStopped, nil)
		return "", ""
	})
}

func (s *Sim) rebootWorkspaces(body []byte) (any, error) {
	var in struct{ RebootWorkspaceRequests []workspaceRequest }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.eachWorkspace(in.RebootWorkspaceRequests, "rebootWorkspaceRequests", 25, func(s *Sim, w *workspace) (string, string) {
		stuck := w.state == WorkspaceRebooting && s.now.Sub(w.stateSince) >= s.scale(rebootStuckAfter)
		if w.state != WorkspaceAvailable && w.state != WorkspaceUnhealthy && !stuck {
			return "InvalidResourceState", fmt.Sprintf("The WorkSpace is in state %s; it can be rebooted only in state AVAILABLE or UNHEALTHY, or when it has been REBOOTING for over 20 minutes.", w.state)
		}
		s.transition(w, WorkspaceRebooting, s.timings.WorkspaceTransition, WorkspaceAvailable, nil)
		return "", ""
	})
}

// restoreWorkspace answers a WorkSpace in the wrong state with OperationNotSupportedException:
// the request is well formed, the operation is just not possible now. AWS does not document
// which of the declared errors it uses.
func (s *Sim) restoreWorkspace(body []byte) (any, error) {
	w, err := s.workspaceOf(body)
	if err != nil {
		return nil, err
	}
	allowed := []string{WorkspaceAvailable, WorkspaceError, WorkspaceUnhealthy, WorkspaceStopped}
	if !slices.Contains(allowed, w.state) {
		return nil, wire.Errorf("OperationNotSupportedException", "The WorkSpace %s is in state %s; it can be restored only in state %s.", w.id, w.state, strings.Join(allowed, ", "))
	}
	if s.latestSnapshot(w).IsZero() {
		return nil, wire.Errorf("OperationNotSupportedException", "%s", s.rebuildRefusal(w, "restored"))
	}
	s.restore(w)
	return struct{}{}, nil
}

// workspaceTags finds the tags of a WorkSpace, directory or bundle by its id. WorkSpaces takes
// resource ids, not ARNs.
func (s *Sim) workspaceTags(id string) (map[string]string, error) {
	if strings.HasPrefix(id, "arn:") {
		return nil, invalidParameters("The resource ID %s is not valid: WorkSpaces tags take the resource's ID (ws-…, d-…, wsb-…), not its ARN.", id)
	}
	switch {
	case strings.HasPrefix(id, "ws-"):
		if w, ok := s.workspaces[id]; ok {
			return w.tags, nil
		}
	case strings.HasPrefix(id, "d-"), strings.HasPrefix(id, "wsd-"):
		if d, ok := s.wsDirectories[id]; ok {
			return d.tags, nil
		}
	case strings.HasPrefix(id, "wsb-"):
		if b, ok := s.wsBundles[id]; ok {
			return b.tags, nil
		}
	}
	return nil, wire.Errorf("ResourceNotFoundException", "The resource %s could not be found.", id)
}

// wireTag is the model's Tag; Value is optional.
type wireTag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value,omitempty"`
}

// workspaceTagProblem returns why a tag key or value breaks a rule the service enforces beyond
// the model's lengths, or "".
func workspaceTagProblem(key, value string) string {
	switch {
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return fmt.Sprintf("The tag key %q is not valid: the prefix aws: is reserved for AWS use.", key)
	case !workspaceTagCharacters.MatchString(key):
		return fmt.Sprintf("The tag key %q is not valid: use letters, digits, spaces and _ . : / = + - @.", key)
	case !workspaceTagCharacters.MatchString(value):
		return fmt.Sprintf("The tag value %q is not valid: use letters, digits, spaces and _ . : / = + - @.", value)
	}
	return ""
}

func (s *Sim) createWorkspaceTags(body []byte) (any, error) {
	var in struct {
		ResourceId *string
		Tags       []wireTag
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.ResourceId != nil, "resourceId")
	v.length(in.ResourceId, "resourceId", 1, 1<<20)
	v.required(in.Tags != nil, "tags")
	for i, t := range in.Tags {
		v.required(t.Key != nil, fmt.Sprintf("tags.%d.member.key", i+1))
		v.length(t.Key, fmt.Sprintf("tags.%d.member.key", i+1), 1, 127)
		v.length(t.Value, fmt.Sprintf("tags.%d.member.value", i+1), 0, 255)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	for _, t := range in.Tags {
		if p := workspaceTagProblem(*t.Key, deref(t.Value)); p != "" {
			return nil, invalidParameters("%s", p)
		}
	}
	tags, err := s.workspaceTags(*in.ResourceId)
	if err != nil {
		return nil, err
	}
	merged := len(tags)
	seen := map[string]bool{}
	for _, t := range in.Tags {
		if _, ok := tags[*t.Key]; !ok && !seen[*t.Key] {
			merged++
		}
		seen[*t.Key] = true
	}
	if merged > maxWorkspaceTags {
		return nil, wire.Errorf("ResourceLimitExceededException", "The resource %s would have %d tags; a WorkSpaces resource can have at most %d.", *in.ResourceId, merged, maxWorkspaceTags)
	}
	for _, t := range in.Tags {
		tags[*t.Key] = deref(t.Value)
	}
	return struct{}{}, nil
}

func (s *Sim) describeWorkspaceTags(body []byte) (any, error) {
	var in struct{ ResourceId *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.ResourceId != nil, "resourceId")
	v.length(in.ResourceId, "resourceId", 1, 1<<20)
	if err := v.err(); err != nil {
		return nil, err
	}
	tags, err := s.workspaceTags(*in.ResourceId)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(tags))
	for _, k := range sortedKeys(tags) {
		out = append(out, map[string]string{"Key": k, "Value": tags[k]})
	}
	return map[string]any{"TagList": out}, nil
}

func (s *Sim) deleteWorkspaceTags(body []byte) (any, error) {
	var in struct {
		ResourceId *string
		TagKeys    []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.ResourceId != nil, "resourceId")
	v.length(in.ResourceId, "resourceId", 1, 1<<20)
	v.required(in.TagKeys != nil, "tagKeys")
	for i := range in.TagKeys {
		if utf8.RuneCountInString(in.TagKeys[i]) < 1 {
			v.add(in.TagKeys[i], "tagKeys", "Member must have length greater than or equal to 1")
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	tags, err := s.workspaceTags(*in.ResourceId)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		delete(tags, k)
	}
	return struct{}{}, nil
}

func (s *Sim) describeWorkspaceDirectories(body []byte) (any, error) {
	var in struct {
		DirectoryIds            []string
		WorkspaceDirectoryNames []string
		Limit                   *int32
		NextToken               *string
		Filters                 []struct {
			Name   *string
			Values []string
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	if in.DirectoryIds != nil {
		v.listLen(len(in.DirectoryIds), "directoryIds", 1, 25)
	}
	for i := range in.DirectoryIds {
		v.directoryID(&in.DirectoryIds[i], "directoryIds")
	}
	if in.WorkspaceDirectoryNames != nil {
		v.listLen(len(in.WorkspaceDirectoryNames), "workspaceDirectoryNames", 1, 25)
	}
	for i := range in.WorkspaceDirectoryNames {
		v.pattern(&in.WorkspaceDirectoryNames[i], "workspaceDirectoryNames", directoryNamePattern, directoryNameRule)
	}
	if in.Filters != nil {
		v.listLen(len(in.Filters), "filters", 1, 25)
	}
	for i, f := range in.Filters {
		v.required(f.Name != nil, fmt.Sprintf("filters.%d.member.name", i+1))
		v.required(f.Values != nil, fmt.Sprintf("filters.%d.member.values", i+1))
	}
	v.intRange(in.Limit, "limit", 1, workspacesPageSize)
	v.length(in.NextToken, "nextToken", 1, 2048)
	if err := v.err(); err != nil {
		return nil, err
	}
	var selected []*wsDirectory
	for _, id := range sortedKeys(s.wsDirectories) {
		d := s.wsDirectories[id]
		if (in.DirectoryIds == nil || slices.Contains(in.DirectoryIds, id)) &&
			(in.WorkspaceDirectoryNames == nil || slices.Contains(in.WorkspaceDirectoryNames, d.name)) {
			selected = append(selected, d)
		}
	}
	size := workspacesPageSize
	if in.Limit != nil {
		size = int(*in.Limit)
	}
	dirs, next, err := page(selected, in.NextToken, size, "DescribeWorkspaceDirectories")
	if err != nil {
		return nil, err
	}
	out := make([]wireDirectory, 0, len(dirs))
	for _, d := range dirs {
		out = append(out, s.wireDirectoryOf(d))
	}
	return paged("Directories", out, next), nil
}

// describeWorkspaceBundles lists the account's bundles (every bundle the emulator knows is a
// custom one); Owner AMAZON lists AWS's public bundles, of which the emulator has none.
func (s *Sim) describeWorkspaceBundles(body []byte) (any, error) {
	var in struct {
		BundleIds []string
		Owner     *string
		NextToken *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	if in.BundleIds != nil {
		v.listLen(len(in.BundleIds), "bundleIds", 1, 25)
	}
	for i := range in.BundleIds {
		v.pattern(&in.BundleIds[i], "bundleIds", bundleIDPattern, bundleIDRule)
	}
	v.length(in.NextToken, "nextToken", 1, 2048)
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.BundleIds != nil && in.Owner != nil {
		return nil, invalidParameters("BundleIds cannot be combined with Owner.")
	}
	var selected []*wsBundle
	if in.Owner == nil || *in.Owner == s.opts.AccountID {
		for _, id := range sortedKeys(s.wsBundles) {
			if in.BundleIds == nil || slices.Contains(in.BundleIds, id) {
				selected = append(selected, s.wsBundles[id])
			}
		}
	}
	bundles, next, err := page(selected, in.NextToken, workspacesPageSize, "DescribeWorkspaceBundles")
	if err != nil {
		return nil, err
	}
	out := make([]wireBundle, 0, len(bundles))
	for _, b := range bundles {
		out = append(out, s.wireBundleOf(b))
	}
	return paged("Bundles", out, next), nil
}

// workspaceOf reads a request naming one WorkSpace ({"WorkspaceId": …}) and returns it, or the
// validation or ResourceNotFoundException error AWS answers.
func (s *Sim) workspaceOf(body []byte) (*workspace, error) {
	var in struct{ WorkspaceId *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.WorkspaceId != nil, "workspaceId")
	v.pattern(in.WorkspaceId, "workspaceId", workspaceIDPattern, workspaceIDRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	w, ok := s.workspaces[*in.WorkspaceId]
	if !ok {
		return nil, wire.Errorf("ResourceNotFoundException", "The WorkSpace %s could not be found.", *in.WorkspaceId)
	}
	return w, nil
}
