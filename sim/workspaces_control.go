package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// WorkspaceSpec describes a WorkSpace to add through the control API or a seed. The WorkSpace is
// provisioned at once (AVAILABLE unless State says otherwise); its directory and bundle are
// registered the first time a WorkSpace names them.
type WorkspaceSpec struct {
	// WorkspaceId defaults to "ws-" and 9 random characters.
	WorkspaceId string `json:",omitempty" yaml:"WorkspaceId"`
	// DirectoryId, UserName and BundleId are required, as in CreateWorkspaces.
	DirectoryId   string `yaml:"DirectoryId"`
	UserName      string `yaml:"UserName"`
	BundleId      string `yaml:"BundleId"`
	WorkspaceName string `json:",omitempty" yaml:"WorkspaceName"`
	// RunningMode is ALWAYS_ON (default), AUTO_STOP or MANUAL.
	RunningMode string `json:",omitempty" yaml:"RunningMode"`
	// RunningModeAutoStopTimeoutInMinutes is how long an AUTO_STOP WorkSpace stays up with
	// nobody connected. Default 60.
	RunningModeAutoStopTimeoutInMinutes int32 `json:",omitempty" yaml:"RunningModeAutoStopTimeoutInMinutes"`
	// ComputeTypeName, RootVolumeSizeGib and UserVolumeSizeGib default to the bundle's (a new
	// bundle: STANDARD, 80, 50).
	ComputeTypeName   string `json:",omitempty" yaml:"ComputeTypeName"`
	RootVolumeSizeGib int32  `json:",omitempty" yaml:"RootVolumeSizeGib"`
	UserVolumeSizeGib int32  `json:",omitempty" yaml:"UserVolumeSizeGib"`
	// Protocols defaults to [WSP].
	Protocols []string `json:",omitempty" yaml:"Protocols"`
	// State defaults to AVAILABLE. Any WorkspaceState is accepted; a transitional one stays
	// until something changes it.
	State string `json:",omitempty" yaml:"State"`
	// Tags are set as CreateTags would (and validated the same way).
	Tags map[string]string `json:",omitempty" yaml:"Tags"`
	// Age is how long before it is added the WorkSpace was created, as a Go duration such as
	// "2h" or "36h"; it sets the schedule of its automatic snapshots (every 12 hours from its
	// creation) and whether it is still in the first 12 hours, when it cannot be rebuilt or
	// restored. Default "24h": a seeded estate has been running, and has a snapshot taken when
	// it is added. "0s" is a WorkSpace created just now.
	Age string `json:",omitempty" yaml:"Age"`
	// ModificationStates are the WorkSpace's modifications in progress or failed, by resource
	// (ROOT_VOLUME, USER_VOLUME, COMPUTE_TYPE, PROTOCOL) to state (UPDATE_INITIATED,
	// UPDATE_IN_PROGRESS, UPDATE_FAILED). One UPDATE_FAILED makes RebuildWorkspaces refuse it.
	ModificationStates map[string]string `json:",omitempty" yaml:"ModificationStates"`
	// age is Age parsed by normalize.
	age time.Duration
}

// normalize fills defaults and checks the spec, as 400 ControlErrors.
func (spec *WorkspaceSpec) normalize() error {
	if spec.RunningMode == "" {
		spec.RunningMode = RunningModeAlwaysOn
	}
	if spec.RunningModeAutoStopTimeoutInMinutes == 0 {
		spec.RunningModeAutoStopTimeoutInMinutes = 60
	}
	if len(spec.Protocols) == 0 {
		spec.Protocols = []string{"WSP"}
	}
	if spec.State == "" {
		spec.State = WorkspaceAvailable
	}
	var v validation
	v.required(spec.DirectoryId != "", "DirectoryId")
	v.required(spec.UserName != "", "UserName")
	v.required(spec.BundleId != "", "BundleId")
	if spec.WorkspaceId != "" {
		v.pattern(&spec.WorkspaceId, "WorkspaceId", workspaceIDPattern, workspaceIDRule)
	}
	if spec.DirectoryId != "" {
		v.directoryID(&spec.DirectoryId, "DirectoryId")
	}
	if spec.UserName != "" {
		v.length(&spec.UserName, "UserName", 1, 63)
	}
	if spec.BundleId != "" {
		v.pattern(&spec.BundleId, "BundleId", bundleIDPattern, bundleIDRule)
	}
	if spec.WorkspaceName != "" {
		v.pattern(&spec.WorkspaceName, "WorkspaceName", workspaceNamePattern, workspaceNameRule)
	}
	v.enum(&spec.RunningMode, "RunningMode", runningModes...)
	v.intRange(&spec.RunningModeAutoStopTimeoutInMinutes, "RunningModeAutoStopTimeoutInMinutes", 1, 1<<31-1)
	if spec.ComputeTypeName != "" {
		v.enum(&spec.ComputeTypeName, "ComputeTypeName", computeTypes...)
	}
	v.intRange(&spec.RootVolumeSizeGib, "RootVolumeSizeGib", 0, 2000)
	v.intRange(&spec.UserVolumeSizeGib, "UserVolumeSizeGib", 0, 2000)
	for i := range spec.Protocols {
		v.enum(&spec.Protocols[i], "Protocols", workspaceProtocols...)
	}
	v.enum(&spec.State, "State", workspaceStates...)
	for _, r := range sortedKeys(spec.ModificationStates) {
		v.enum(&r, "ModificationStates", modificationResources...)
		st := spec.ModificationStates[r]
		v.enum(&st, "ModificationStates."+r, modificationStates...)
	}
	if err := v.err(); err != nil {
		return badRequestf("%s", strings.TrimPrefix(err.Error(), "ValidationException: "))
	}
	spec.age = defaultWorkspaceAge
	if spec.Age != "" {
		d, err := time.ParseDuration(spec.Age)
		if err != nil || d < 0 {
			return badRequestf("Age %q is not a duration of 0s or more, such as 2h or 36h", spec.Age)
		}
		spec.age = d
	}
	if len(spec.Tags) > maxWorkspaceTags {
		return badRequestf("a WorkSpace can have at most %d tags, not %d", maxWorkspaceTags, len(spec.Tags))
	}
	for _, k := range sortedKeys(spec.Tags) {
		if n := utf8.RuneCountInString(k); n < 1 || n > 127 {
			return badRequestf("tag key %q must be 1 to 127 characters", k)
		}
		if utf8.RuneCountInString(spec.Tags[k]) > 255 {
			return badRequestf("the value of tag %q must be at most 255 characters", k)
		}
		if p := workspaceTagProblem(k, spec.Tags[k]); p != "" {
			return badRequestf("%s", p)
		}
	}
	return nil
}

// CreateWorkspace adds a provisioned WorkSpace and returns it in the AWS shape (as
// DescribeWorkspaces shows it). A duplicate id is a 409 ControlError, a bad spec a 400.
func (s *Sim) CreateWorkspace(spec WorkspaceSpec) (json.RawMessage, error) {
	if err := spec.normalize(); err != nil {
		return nil, err
	}
	s.lock()
	defer s.mu.Unlock()
	id := spec.WorkspaceId
	if id == "" {
		for id == "" || s.workspaces[id] != nil {
			id = "ws-" + s.randomID(9, lowerAlnum)
		}
	} else if _, ok := s.workspaces[id]; ok {
		return nil, conflictf("WorkSpace %s already exists", id)
	}
	dir := s.directoryFor(spec.DirectoryId)
	bundle := s.bundleFor(spec.BundleId, &spec)
	w := &workspace{
		id: id, directoryID: dir.id, userName: spec.UserName, bundleID: bundle.id, name: spec.WorkspaceName,
		runningMode: spec.RunningMode, autoStopMinutes: spec.RunningModeAutoStopTimeoutInMinutes,
		computeType: bundle.computeType, rootGib: bundle.rootGib, userGib: bundle.userGib,
		protocols: append([]string{}, spec.Protocols...), ip: s.newWorkspaceIP(),
		computerName: "WSAMZN-" + s.randomID(8, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
		subnetID:     dir.subnets[len(s.workspaces)%len(dir.subnets)],
		created:      s.now, tags: map[string]string{},
		born: s.now.Add(-spec.age), modStates: map[string]string{},
	}
	for r, st := range spec.ModificationStates {
		w.modStates[r] = st
	}
	if spec.ComputeTypeName != "" {
		w.computeType = spec.ComputeTypeName
	}
	if spec.RootVolumeSizeGib > 0 {
		w.rootGib = spec.RootVolumeSizeGib
	}
	if spec.UserVolumeSizeGib > 0 {
		w.userGib = spec.UserVolumeSizeGib
	}
	for k, val := range spec.Tags {
		w.tags[k] = val
	}
	s.setState(w, spec.State)
	s.addWorkspace(w)
	s.armAutoStop(w)
	return json.Marshal(wireWorkspaceOf(w))
}

// WorkspaceInfo is what GET /_sim/workspaces/{id} answers: the WorkSpace in the AWS shape, its
// connection state as DescribeWorkspacesConnectionStatus reports it, when each rebuild and
// restore was started, every snapshot taken of it so far, and the snapshot each rebuild or
// restore brought the user volume back from.
type WorkspaceInfo struct {
	Workspace       json.RawMessage
	ConnectionState string
	Rebuilds        []time.Time
	Restores        []time.Time
	// Snapshots are the times of its snapshots, oldest first (automatic ones every 12 hours
	// from its creation, and one soon after each rebuild or restore).
	Snapshots []time.Time
	// ResetFrom is, for each rebuild and restore in the order they were made, the time of the
	// snapshot the user volume came back from: files written after it were lost.
	ResetFrom []time.Time
}

// WorkspaceStatus returns a WorkSpace as the emulator sees it.
func (s *Sim) WorkspaceStatus(id string) (WorkspaceInfo, error) {
	s.lock()
	defer s.mu.Unlock()
	w, ok := s.workspaces[id]
	if !ok {
		return WorkspaceInfo{}, notFoundf("WorkSpace %s does not exist", id)
	}
	raw, err := json.Marshal(wireWorkspaceOf(w))
	if err != nil {
		return WorkspaceInfo{}, err
	}
	return WorkspaceInfo{
		Workspace: raw, ConnectionState: w.connectionState(),
		Rebuilds: append([]time.Time{}, w.rebuilds...), Restores: append([]time.Time{}, w.restores...),
		Snapshots: s.snapshots(w), ResetFrom: append([]time.Time{}, w.resetFrom...),
	}, nil
}

// ConnectWorkspace connects the WorkSpace's user, as the WorkSpaces client would. The WorkSpace
// must be AVAILABLE; a STOPPED AUTO_STOP WorkSpace is started instead, and the user is
// connected when it is AVAILABLE (after WorkspaceTransition). Anything else is a 409.
func (s *Sim) ConnectWorkspace(id string) error {
	s.lock()
	defer s.mu.Unlock()
	w, ok := s.workspaces[id]
	if !ok {
		return notFoundf("WorkSpace %s does not exist", id)
	}
	switch {
	case w.connected:
		return conflictf("a user is already connected to WorkSpace %s", id)
	case w.state == WorkspaceAvailable:
		s.connect(w)
	case w.state == WorkspaceStopped && w.runningMode == RunningModeAutoStop:
		s.transition(w, WorkspaceStarting, s.timings.WorkspaceTransition, WorkspaceAvailable, nil)
		w.pendingConnect = true
	case w.state == WorkspaceAdminMaintenance:
		return conflictf("WorkSpace %s is in ADMIN_MAINTENANCE: users cannot log in until it is AVAILABLE again (ModifyWorkspaceState)", id)
	default:
		return conflictf("WorkSpace %s is %s (%s); users can connect only to AVAILABLE WorkSpaces, or to STOPPED AUTO_STOP ones, which start", id, w.state, w.runningMode)
	}
	return nil
}

// DisconnectWorkspace disconnects the WorkSpace's user. Like AWS, where the SessionDisconnect
// metric trips each WorkSpace's alarm, it sends the alarm to every confirmed SNS subscription
// (docs/emulator.md, section 4.9). Disconnecting a WorkSpace nobody is connected to is a 409.
func (s *Sim) DisconnectWorkspace(id string) error {
	s.lock()
	w, ok := s.workspaces[id]
	if !ok {
		s.mu.Unlock()
		return notFoundf("WorkSpace %s does not exist", id)
	}
	if !s.disconnect(w) {
		state := w.connectionState()
		s.mu.Unlock()
		return conflictf("no user is connected to WorkSpace %s (connection state %s)", id, state)
	}
	at, configured := s.now, w.created
	s.mu.Unlock()
	s.publishAlarm(id, at, configured)
	return nil
}

// SetWorkspaceState forces a WorkSpace into any WorkspaceState, for tests: pending transitions
// are cancelled, a user is disconnected (without an alarm) unless the state keeps sessions
// (AVAILABLE, IMPAIRED, UNHEALTHY, ADMIN_MAINTENANCE), and the state stays until something
// changes it.
func (s *Sim) SetWorkspaceState(id, state string) error {
	var v validation
	v.enum(&state, "State", workspaceStates...)
	if err := v.err(); err != nil {
		return badRequestf("%s", strings.TrimPrefix(err.Error(), "ValidationException: "))
	}
	s.lock()
	defer s.mu.Unlock()
	w, ok := s.workspaces[id]
	if !ok {
		return notFoundf("WorkSpace %s does not exist", id)
	}
	s.setState(w, state)
	s.armAutoStop(w)
	return nil
}

// SetWorkspaceModification sets the ModificationStates entry of one resource (ROOT_VOLUME,
// USER_VOLUME, COMPUTE_TYPE or PROTOCOL) to state (UPDATE_INITIATED, UPDATE_IN_PROGRESS or
// UPDATE_FAILED), or removes it when state is "", for tests.
func (s *Sim) SetWorkspaceModification(id, resource, state string) error {
	var v validation
	v.enum(&resource, "Resource", modificationResources...)
	if state != "" {
		v.enum(&state, "State", modificationStates...)
	}
	if err := v.err(); err != nil {
		return badRequestf("%s", strings.TrimPrefix(err.Error(), "ValidationException: "))
	}
	s.lock()
	defer s.mu.Unlock()
	w, ok := s.workspaces[id]
	if !ok {
		return notFoundf("WorkSpace %s does not exist", id)
	}
	if state == "" {
		delete(w.modStates, resource)
	} else {
		w.modStates[resource] = state
	}
	return nil
}

// workspaceRoutes adds the /_sim/workspaces endpoints.
func (s *Sim) workspaceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/workspaces", func(w http.ResponseWriter, r *http.Request) {
		var spec WorkspaceSpec
		if !readControl(w, r, &spec) {
			return
		}
		ws, err := s.CreateWorkspace(spec)
		respond(w, http.StatusCreated, ws, err)
	})
	mux.HandleFunc("GET /_sim/workspaces/{id}", func(w http.ResponseWriter, r *http.Request) {
		info, err := s.WorkspaceStatus(r.PathValue("id"))
		respond(w, http.StatusOK, info, err)
	})
	mux.HandleFunc("POST /_sim/workspaces/{id}/connect", func(w http.ResponseWriter, r *http.Request) {
		s.answerStatus(w, r.PathValue("id"), s.ConnectWorkspace(r.PathValue("id")))
	})
	mux.HandleFunc("POST /_sim/workspaces/{id}/disconnect", func(w http.ResponseWriter, r *http.Request) {
		s.answerStatus(w, r.PathValue("id"), s.DisconnectWorkspace(r.PathValue("id")))
	})
	mux.HandleFunc("POST /_sim/workspaces/{id}/state", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ State string }
		if !readControl(w, r, &in) {
			return
		}
		s.answerStatus(w, r.PathValue("id"), s.SetWorkspaceState(r.PathValue("id"), in.State))
	})
}

// answerStatus answers a WorkSpace control call with the WorkSpace's status, or with err.
func (s *Sim) answerStatus(w http.ResponseWriter, id string, err error) {
	if err != nil {
		writeControlError(w, err)
		return
	}
	info, err := s.WorkspaceStatus(id)
	respond(w, http.StatusOK, info, err)
}

// seedWorkspace adds a seeded WorkSpace.
func (s *Sim) seedWorkspace(spec WorkspaceSpec) error {
	if _, err := s.CreateWorkspace(spec); err != nil {
		return fmt.Errorf("workspace %q: %w", spec.WorkspaceId, err)
	}
	return nil
}
