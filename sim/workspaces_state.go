package sim

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// WorkSpace states (the model's WorkspaceState enum).
const (
	WorkspacePending          = "PENDING"
	WorkspaceAvailable        = "AVAILABLE"
	WorkspaceImpaired         = "IMPAIRED"
	WorkspaceUnhealthy        = "UNHEALTHY"
	WorkspaceRebooting        = "REBOOTING"
	WorkspaceStarting         = "STARTING"
	WorkspaceRebuilding       = "REBUILDING"
	WorkspaceRestoring        = "RESTORING"
	WorkspaceMaintenance      = "MAINTENANCE"
	WorkspaceAdminMaintenance = "ADMIN_MAINTENANCE"
	WorkspaceTerminating      = "TERMINATING"
	WorkspaceTerminated       = "TERMINATED"
	WorkspaceSuspended        = "SUSPENDED"
	WorkspaceUpdating         = "UPDATING"
	WorkspaceStopping         = "STOPPING"
	WorkspaceStopped          = "STOPPED"
	WorkspaceError            = "ERROR"
)

// WorkSpace running modes and connection states (model enums RunningMode, ConnectionState).
const (
	RunningModeAutoStop = "AUTO_STOP"
	RunningModeAlwaysOn = "ALWAYS_ON"
	RunningModeManual   = "MANUAL"

	ConnectionConnected    = "CONNECTED"
	ConnectionDisconnected = "DISCONNECTED"
	ConnectionUnknown      = "UNKNOWN"
)

var (
	workspaceStates = []string{
		WorkspacePending, WorkspaceAvailable, WorkspaceImpaired, WorkspaceUnhealthy, WorkspaceRebooting,
		WorkspaceStarting, WorkspaceRebuilding, WorkspaceRestoring, WorkspaceMaintenance, WorkspaceAdminMaintenance,
		WorkspaceTerminating, WorkspaceTerminated, WorkspaceSuspended, WorkspaceUpdating, WorkspaceStopping,
		WorkspaceStopped, WorkspaceError,
	}
	runningModes = []string{RunningModeAutoStop, RunningModeAlwaysOn, RunningModeManual}
	computeTypes = []string{
		"VALUE", "STANDARD", "PERFORMANCE", "POWER", "GRAPHICS", "POWERPRO", "GENERALPURPOSE_4XLARGE",
		"GENERALPURPOSE_8XLARGE", "GRAPHICSPRO", "GRAPHICS_G4DN", "GRAPHICSPRO_G4DN", "GRAPHICS_G6_XLARGE",
		"GRAPHICS_G6_2XLARGE", "GRAPHICS_G6_4XLARGE", "GRAPHICS_G6_8XLARGE", "GRAPHICS_G6_16XLARGE",
		"GRAPHICS_GR6_4XLARGE", "GRAPHICS_GR6_8XLARGE", "GRAPHICS_G6F_LARGE", "GRAPHICS_G6F_XLARGE",
		"GRAPHICS_G6F_2XLARGE", "GRAPHICS_G6F_4XLARGE", "GRAPHICS_GR6F_4XLARGE",
	}
	workspaceProtocols = []string{"PCOIP", "WSP"}
)

// Identifier patterns from the WorkSpaces model, and how the model spells them in messages.
var (
	workspaceIDPattern     = regexp.MustCompile(`^ws-[0-9a-z]{8,63}$`)
	directoryIDPattern     = regexp.MustCompile(`^(d-[0-9a-f]{8,63}$)|(wsd-[0-9a-z]{8,63}$)`)
	bundleIDPattern        = regexp.MustCompile(`^wsb-[0-9a-z]{8,63}$`)
	workspaceNamePattern   = regexp.MustCompile(`^[a-zA-Z0-9_()][a-zA-Z0-9_.()-]{1,63}$`)
	directoryNamePattern   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\s-]{1,64}$`)
	workspaceTagCharacters = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

const (
	workspaceIDRule   = "^ws-[0-9a-z]{8,63}$"
	directoryIDRule   = "^(d-[0-9a-f]{8,63}$)|(wsd-[0-9a-z]{8,63}$)"
	bundleIDRule      = "^wsb-[0-9a-z]{8,63}$"
	workspaceNameRule = "^[a-zA-Z0-9_()][a-zA-Z0-9_.()-]{1,63}$"
	directoryNameRule = `^[a-zA-Z0-9][a-zA-Z0-9_.\s-]{1,64}$`
)

// maxWorkspaceTags is how many tags one WorkSpaces resource may carry.
const maxWorkspaceTags = 50

// rebootStuckAfter is how long a WorkSpace must have been REBOOTING before it may be rebooted
// again (the model's documentation of RebootWorkspaces).
const rebootStuckAfter = 20 * time.Minute

// workspace is one WorkSpace. Every change of state goes through setState, which bumps gen so
// that the timers of an earlier transition (or of the auto-stop countdown) do nothing.
type workspace struct {
	id, directoryID, userName, bundleID, name string
	state                                     string
	stateSince, created                       time.Time
	runningMode                               string
	autoStopMinutes                           int32
	computeType                               string
	rootGib, userGib                          int32
	protocols                                 []string
	ip, computerName, subnetID                string
	tags                                      map[string]string
	// connected tells whether a user is connected; lastConnect is when the last one did (zero
	// if nobody ever connected).
	connected   bool
	lastConnect time.Time
	// pendingConnect is a user waiting for the WorkSpace to start (a connection to a STOPPED
	// AUTO_STOP WorkSpace starts it, as the WorkSpaces client does).
	pendingConnect     bool
	gen                int
	rebuilds, restores []time.Time
	// born is when AWS created the WorkSpace: automatic snapshots are taken every
	// snapshotInterval from then (the first at born + snapshotInterval). extraSnapshots are
	// those taken soon after a rebuild or restore finished, possibly still in the future.
	born           time.Time
	extraSnapshots []time.Time
	// resetFrom is, for each rebuild and restore in the order made, the time of the snapshot
	// its user volume came back from.
	resetFrom []time.Time
	// modStates are the WorkSpace's ModificationStates, by resource.
	modStates map[string]string
}

// wsDirectory is a registered directory, created when the first WorkSpace names it.
type wsDirectory struct {
	id, alias, name, registrationCode, securityGroup string
	subnets, dnsIPs                                  []string
	tags                                             map[string]string
}

// wsBundle is a custom bundle, created when the first WorkSpace names it.
type wsBundle struct {
	id, name, imageID, computeType string
	rootGib, userGib               int32
	created                        time.Time
	tags                           map[string]string
}

// connectionState is what DescribeWorkspacesConnectionStatus reports: UNKNOWN while the
// WorkSpace is not running (AWS cannot ask a stopped WorkSpace), else whether a user is on it.
func (w *workspace) connectionState() string {
	switch w.state {
	case WorkspacePending, WorkspaceStarting, WorkspaceStopping, WorkspaceStopped,
		WorkspaceTerminating, WorkspaceTerminated, WorkspaceSuspended:
		return ConnectionUnknown
	}
	if w.connected {
		return ConnectionConnected
	}
	return ConnectionDisconnected
}

// keepsSession tells whether a user stays connected to a WorkSpace in state.
// ADMIN_MAINTENANCE keeps a connected user (it only stops new logins).
func keepsSession(state string) bool {
	return state == WorkspaceAvailable || state == WorkspaceImpaired || state == WorkspaceUnhealthy || state == WorkspaceAdminMaintenance
}

// setState moves a WorkSpace to state and cancels every timer set before. A user cannot stay
// connected through a state that has no session.
func (s *Sim) setState(w *workspace, state string) {
	w.state = state
	w.stateSince = s.now
	w.gen++
	if !keepsSession(state) {
		w.connected = false
	}
	if state != WorkspaceStarting {
		w.pendingConnect = false
	}
}

// transition moves a WorkSpace to via at once and to then after d, unless something else
// changed its state meanwhile.
func (s *Sim) transition(w *workspace, via string, d time.Duration, then string, done func()) {
	s.setState(w, via)
	gen := w.gen
	s.after(d, func() {
		if s.workspaces[w.id] != w || w.gen != gen {
			return
		}
		pending := w.pendingConnect
		s.setState(w, then)
		if done != nil {
			done()
		}
		if then == WorkspaceAvailable {
			s.workspaceUp(w, pending)
		}
	})
}

// workspaceUp runs when a WorkSpace becomes AVAILABLE: the user who was waiting connects, or
// the auto-stop countdown starts.
func (s *Sim) workspaceUp(w *workspace, pendingConnect bool) {
	if pendingConnect {
		s.connect(w)
		return
	}
	s.armAutoStop(w)
}

// armAutoStop stops an idle AUTO_STOP WorkSpace after its timeout, counted from now (its user
// disconnecting, or its becoming AVAILABLE with nobody connected).
func (s *Sim) armAutoStop(w *workspace) {
	if w.runningMode != RunningModeAutoStop || w.state != WorkspaceAvailable || w.connected {
		return
	}
	gen := w.gen
	s.after(s.scale(time.Duration(w.autoStopMinutes)*time.Minute), func() {
		if s.workspaces[w.id] == w && w.gen == gen && w.state == WorkspaceAvailable && !w.connected {
			s.setState(w, WorkspaceStopped)
		}
	})
}

func (s *Sim) connect(w *workspace) {
	w.connected = true
	w.lastConnect = s.now
	w.gen++ // cancels the auto-stop countdown
}

// disconnect ends the user's session. It reports whether a user was connected.
func (s *Sim) disconnect(w *workspace) bool {
	if !w.connected {
		return false
	}
	w.connected = false
	w.gen++
	s.armAutoStop(w)
	return true
}

// rebuild starts a rebuild: the user is disconnected, and after WorkspaceRebuild the WorkSpace
// is AVAILABLE with a new primary network interface, hence a new IP address.
// The user volume comes back from the latest snapshot; new snapshots are taken
// postResetSnapshot after it finishes.
func (s *Sim) rebuild(w *workspace) {
	w.rebuilds = append(w.rebuilds, s.now)
	w.resetFrom = append(w.resetFrom, s.latestSnapshot(w))
	s.transition(w, WorkspaceRebuilding, s.timings.WorkspaceRebuild, WorkspaceAvailable, func() {
		w.ip = s.newWorkspaceIP()
		w.extraSnapshots = append(w.extraSnapshots, s.now.Add(s.scale(postResetSnapshot)))
	})
}

// restore starts a restore from the last snapshots; the IP address is kept.
func (s *Sim) restore(w *workspace) {
	w.restores = append(w.restores, s.now)
	w.resetFrom = append(w.resetFrom, s.latestSnapshot(w))
	s.transition(w, WorkspaceRestoring, s.timings.WorkspaceRebuild, WorkspaceAvailable, func() {
		w.extraSnapshots = append(w.extraSnapshots, s.now.Add(s.scale(postResetSnapshot)))
	})
}

// addWorkspace stores a WorkSpace and keeps the id list sortable in O(1) when ids arrive in
// order (as seeds and benchmarks create them).
func (s *Sim) addWorkspace(w *workspace) {
	s.workspaces[w.id] = w
	if n := len(s.wsOrder); n > 0 && s.wsOrder[n-1] > w.id {
		s.wsSorted = false
	}
	s.wsOrder = append(s.wsOrder, w.id)
}

// workspaceIDs returns every WorkSpace id in order. It sorts at most once after additions, so
// paging through 10,000 WorkSpaces costs one sort, not one per page.
func (s *Sim) workspaceIDs() []string {
	if !s.wsSorted {
		slices.Sort(s.wsOrder)
		s.wsSorted = true
	}
	return s.wsOrder
}

// directoryFor returns the directory with id, registering it when it is new.
func (s *Sim) directoryFor(id string) *wsDirectory {
	if d, ok := s.wsDirectories[id]; ok {
		return d
	}
	n := s.nextID()
	d := &wsDirectory{
		id: id, alias: id, name: "corp" + fmt.Sprint(len(s.wsDirectories)+1) + ".example.com",
		registrationCode: "SLiad+" + s.randomID(6, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
		securityGroup:    fmt.Sprintf("sg-%017x", n),
		subnets:          []string{fmt.Sprintf("subnet-%017x", 2*n), fmt.Sprintf("subnet-%017x", 2*n+1)},
		dnsIPs:           []string{"10.16.0.2", "10.16.128.2"},
		tags:             map[string]string{},
	}
	s.wsDirectories[id] = d
	return d
}

// bundleFor returns the bundle with id, creating a custom bundle from spec when it is new.
func (s *Sim) bundleFor(id string, spec *WorkspaceSpec) *wsBundle {
	if b, ok := s.wsBundles[id]; ok {
		return b
	}
	b := &wsBundle{
		id: id, name: "deskpilot-sim-" + id, imageID: "wsi-" + s.randomID(9, lowerAlnum),
		computeType: spec.ComputeTypeName, rootGib: spec.RootVolumeSizeGib, userGib: spec.UserVolumeSizeGib,
		created: s.now, tags: map[string]string{},
	}
	if b.computeType == "" {
		b.computeType = "STANDARD"
	}
	if b.rootGib == 0 {
		b.rootGib = 80
	}
	if b.userGib == 0 {
		b.userGib = 50
	}
	s.wsBundles[id] = b
	return b
}

const lowerAlnum = "0123456789abcdefghijklmnopqrstuvwxyz"

// randomID returns n characters of alphabet drawn from the emulator's generator.
func (s *Sim) randomID(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return string(b)
}

// newWorkspaceIP returns a private address in 10.16.0.0/12 that no WorkSpace had before.
func (s *Sim) newWorkspaceIP() string {
	s.wsIPSeq++
	n := s.wsIPSeq + 3 // skip .0 to .3, which VPCs reserve
	return fmt.Sprintf("10.%d.%d.%d", 16+(n>>16)&0x0f, (n>>8)&0xff, n&0xff)
}

// --- wire shapes ---

type wireWorkspaceProperties struct {
	RunningMode                         string   `json:"RunningMode"`
	RunningModeAutoStopTimeoutInMinutes int32    `json:"RunningModeAutoStopTimeoutInMinutes,omitempty"`
	RootVolumeSizeGib                   int32    `json:"RootVolumeSizeGib"`
	UserVolumeSizeGib                   int32    `json:"UserVolumeSizeGib"`
	ComputeTypeName                     string   `json:"ComputeTypeName"`
	Protocols                           []string `json:"Protocols"`
	OperatingSystemName                 string   `json:"OperatingSystemName"`
}

type wireWorkspace struct {
	WorkspaceId                 string                  `json:"WorkspaceId"`
	DirectoryId                 string                  `json:"DirectoryId"`
	UserName                    string                  `json:"UserName"`
	IpAddress                   string                  `json:"IpAddress,omitempty"`
	State                       string                  `json:"State"`
	BundleId                    string                  `json:"BundleId"`
	SubnetId                    string                  `json:"SubnetId,omitempty"`
	ComputerName                string                  `json:"ComputerName,omitempty"`
	WorkspaceName               string                  `json:"WorkspaceName,omitempty"`
	UserVolumeEncryptionEnabled bool                    `json:"UserVolumeEncryptionEnabled"`
	RootVolumeEncryptionEnabled bool                    `json:"RootVolumeEncryptionEnabled"`
	WorkspaceProperties         wireWorkspaceProperties `json:"WorkspaceProperties"`
	ModificationStates          []wireModificationState `json:"ModificationStates"`
}

// wireModificationState is the model's ModificationState.
type wireModificationState struct {
	Resource string `json:"Resource"`
	State    string `json:"State"`
}

func wireWorkspaceOf(w *workspace) wireWorkspace {
	props := wireWorkspaceProperties{
		RunningMode: w.runningMode, RootVolumeSizeGib: w.rootGib, UserVolumeSizeGib: w.userGib,
		ComputeTypeName: w.computeType, Protocols: w.protocols, OperatingSystemName: "WINDOWS_SERVER_2022",
	}
	if w.runningMode == RunningModeAutoStop {
		props.RunningModeAutoStopTimeoutInMinutes = w.autoStopMinutes
	}
	mods := []wireModificationState{}
	for _, r := range modificationResources {
		if st, ok := w.modStates[r]; ok {
			mods = append(mods, wireModificationState{r, st})
		}
	}
	return wireWorkspace{
		WorkspaceId: w.id, DirectoryId: w.directoryID, UserName: w.userName, IpAddress: w.ip,
		State: w.state, BundleId: w.bundleID, SubnetId: w.subnetID, ComputerName: w.computerName,
		WorkspaceName: w.name, WorkspaceProperties: props, ModificationStates: mods,
	}
}

type wireConnectionStatus struct {
	WorkspaceId                      string     `json:"WorkspaceId"`
	ConnectionState                  string     `json:"ConnectionState"`
	ConnectionStateCheckTimestamp    *wire.Time `json:"ConnectionStateCheckTimestamp,omitempty"`
	LastKnownUserConnectionTimestamp *wire.Time `json:"LastKnownUserConnectionTimestamp,omitempty"`
}

type wireCreationProperties struct {
	EnableInternetAccess            bool   `json:"EnableInternetAccess"`
	DefaultOu                       string `json:"DefaultOu"`
	UserEnabledAsLocalAdministrator bool   `json:"UserEnabledAsLocalAdministrator"`
	EnableMaintenanceMode           bool   `json:"EnableMaintenanceMode"`
}

type wireDirectory struct {
	DirectoryId                 string                 `json:"DirectoryId"`
	Alias                       string                 `json:"Alias"`
	DirectoryName               string                 `json:"DirectoryName"`
	RegistrationCode            string                 `json:"RegistrationCode"`
	SubnetIds                   []string               `json:"SubnetIds"`
	DnsIpAddresses              []string               `json:"DnsIpAddresses"`
	CustomerUserName            string                 `json:"CustomerUserName"`
	IamRoleId                   string                 `json:"IamRoleId"`
	DirectoryType               string                 `json:"DirectoryType"`
	WorkspaceSecurityGroupId    string                 `json:"WorkspaceSecurityGroupId"`
	State                       string                 `json:"State"`
	WorkspaceCreationProperties wireCreationProperties `json:"WorkspaceCreationProperties"`
	Tenancy                     string                 `json:"Tenancy"`
	WorkspaceType               string                 `json:"WorkspaceType"`
}

func (s *Sim) wireDirectoryOf(d *wsDirectory) wireDirectory {
	return wireDirectory{
		DirectoryId: d.id, Alias: d.alias, DirectoryName: d.name, RegistrationCode: d.registrationCode,
		SubnetIds: d.subnets, DnsIpAddresses: d.dnsIPs, CustomerUserName: "Administrator",
		IamRoleId:     fmt.Sprintf("arn:aws:iam::%s:role/workspaces_DefaultRole", s.opts.AccountID),
		DirectoryType: "SIMPLE_AD", WorkspaceSecurityGroupId: d.securityGroup, State: "REGISTERED",
		WorkspaceCreationProperties: wireCreationProperties{EnableMaintenanceMode: true},
		Tenancy:                     "SHARED", WorkspaceType: "PERSONAL",
	}
}

type wireCapacity struct {
	Capacity string `json:"Capacity"`
}

type wireBundle struct {
	BundleId        string            `json:"BundleId"`
	Name            string            `json:"Name"`
	Owner           string            `json:"Owner"`
	Description     string            `json:"Description"`
	BundleType      string            `json:"BundleType"`
	ImageId         string            `json:"ImageId"`
	State           string            `json:"State"`
	ComputeType     map[string]string `json:"ComputeType"`
	RootStorage     wireCapacity      `json:"RootStorage"`
	UserStorage     wireCapacity      `json:"UserStorage"`
	CreationTime    *wire.Time        `json:"CreationTime,omitempty"`
	LastUpdatedTime *wire.Time        `json:"LastUpdatedTime,omitempty"`
}

func (s *Sim) wireBundleOf(b *wsBundle) wireBundle {
	return wireBundle{
		BundleId: b.id, Name: b.name, Owner: s.opts.AccountID, Description: "Custom bundle (deskpilot sim)",
		BundleType: "REGULAR", ImageId: b.imageID, State: "AVAILABLE",
		ComputeType: map[string]string{"Name": b.computeType},
		RootStorage: wireCapacity{fmt.Sprint(b.rootGib)}, UserStorage: wireCapacity{fmt.Sprint(b.userGib)},
		CreationTime: wire.TimePtr(b.created), LastUpdatedTime: wire.TimePtr(b.created),
	}
}
