package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// AppStream enums used by the emulator (names from the model).
const (
	FleetStarting = "STARTING"
	FleetRunning  = "RUNNING"
	FleetStopping = "STOPPING"
	FleetStopped  = "STOPPED"

	FleetAlwaysOn = "ALWAYS_ON"
	FleetOnDemand = "ON_DEMAND"
	FleetElastic  = "ELASTIC"

	ImageAvailable = "AVAILABLE"
)

// Image defects, which the control API can give an image (ImageSpec.Defect) so that tests can
// see how a controller copes with a bad image. AWS has no such attribute: these are the
// symptoms a broken image shows in AWS, applied to the instances launched from it.
const (
	// ImageDefectInstancesFail: instances launched from the image never become available. They
	// stay PENDING (never counted as running), and a fleet that uses the image and wants capacity
	// reports a FleetErrors entry.
	ImageDefectInstancesFail = "instances-fail"
	// ImageDefectSlowStart: instances launched from the image take slowStartFactor times
	// InstanceProvision to become available.
	ImageDefectSlowStart = "slow-start"
)

// slowStartFactor is how many times longer than InstanceProvision a slow-start image takes.
const slowStartFactor = 10

// imageDefectError is the FleetErrorCode (from the AppStream model) a fleet reports while its
// image's instances fail.
const imageDefectError = "INTERNAL_SERVICE_ERROR"

// Instance states, as the control API reports them (AppStream does not expose instances).
const (
	InstancePending     = "PENDING"
	InstanceRunning     = "RUNNING"
	InstanceTerminating = "TERMINATING"
)

var (
	platforms   = []string{"WINDOWS", "WINDOWS_SERVER_2016", "WINDOWS_SERVER_2019", "WINDOWS_SERVER_2022", "WINDOWS_SERVER_2025", "AMAZON_LINUX2", "RHEL8", "ROCKY_LINUX8", "UBUNTU_PRO_2404"}
	imageStates = []string{"PENDING", "AVAILABLE", "FAILED", "COPYING", "DELETING", "CREATING", "IMPORTING", "VALIDATING"}
	fleetTypes  = []string{FleetAlwaysOn, FleetOnDemand, FleetElastic}
)

type image struct {
	name, arn, baseImageArn, displayName, description string
	state, platform, visibility                       string
	created                                           time.Time
	tags                                              map[string]string
	// defect is one of the ImageDefect constants, or "" (control API only).
	defect string
}

type fleet struct {
	name, arn, displayName, description  string
	instanceType, fleetType, platform    string
	imageName, imageArn                  string
	state, streamView, iamRoleArn        string
	desired                              int32
	maxUserDuration, disconnectTimeout   int32
	idleDisconnectTimeout, maxConcurrent int32
	enableDefaultInternetAccess          bool
	created                              time.Time
	tags                                 map[string]string
	instances                            []*instance
	stacks                               map[string]bool
	// maxSessions is MaxSessionsPerInstance as given (0 when never given); the fleet is
	// multi-session when it is above 1. desiredSessions is then ComputeCapacity.DesiredSessions,
	// the capacity Application Auto Scaling scales, and desired is ⌈desiredSessions/maxSessions⌉.
	maxSessions, desiredSessions int32
	rollScheduled                bool
	// transition counts state changes so that the timer of an earlier start or stop does
	// not complete a later one.
	transition                            int
	vpcSubnets, vpcSecurityGroups, errors []string
	// timeline records the fleet's capacity over time for measurements (GET
	// /_sim/appstream/fleets/{name}/timeline).
	timeline timeline
}

type instance struct {
	id       string
	imageArn string
	state    string
	// sessions are the sessions the instance hosts, oldest first: at most one on a
	// single-session fleet, at most maxSessions on a multi-session one.
	sessions []*session
	// draining marks an instance of a multi-session fleet put in drain mode by
	// DrainSessionInstance: it takes no new session and is replaced once its last one ends.
	draining bool
	launched time.Time
	// ready is when a PENDING instance becomes (or became) RUNNING; zero for a failing one.
	ready time.Time
	// failing marks an instance launched from an instances-fail image: it stays PENDING.
	failing bool
	// recycled marks an instance terminating because its session ended: it no longer counts as
	// running capacity. Idle instances being scaled in keep counting until they are gone,
	// which is why Available reaches 0 only after InstanceTerminate.
	recycled bool
}

type stack struct {
	name, arn, displayName, description string
	created                             time.Time
	tags                                map[string]string
	fleets                              map[string]bool
}

type session struct {
	id, userID, stackName, fleetName, authType string
	instance                                   *instance
	start, maxExpiration                       time.Time
}

// multiSession reports whether the fleet places several sessions on one instance.
func (f *fleet) multiSession() bool { return f.maxSessions > 1 }

// idle reports whether the instance hosts no session.
func (in *instance) idle() bool { return len(in.sessions) == 0 }

// counted reports whether the instance counts as running capacity: RUNNING, or idle and being
// scaled in (see recycled).
func (in *instance) counted() bool {
	return in.state == InstanceRunning || (in.state == InstanceTerminating && !in.recycled)
}

// capacity is the instance part of ComputeCapacityStatus. Running counts instances that are up
// (idle ones being scaled in included); InUse those with at least one session; Available =
// Running - InUse always.
func (f *fleet) capacity() (running, inUse, available int32) {
	if f.state != FleetRunning && f.state != FleetStarting {
		return 0, 0, 0
	}
	for _, in := range f.instances {
		if in.counted() {
			running++
		}
		if !in.idle() {
			inUse++
		}
	}
	return running, inUse, running - inUse
}

// sessionCapacity is the user-session part of ComputeCapacityStatus of a multi-session fleet,
// as the AppStream model defines it: Active counts every session; Available the free slots of
// running instances not in drain mode; Actual = Available + Active; Desired = Actual + the slots
// of pending instances; the drain figures cover instances in drain mode.
type sessionCapacity struct {
	desired, available, active, actual int32
	draining, drainActive, drainUnused int32
}

func (f *fleet) sessionCapacity() sessionCapacity {
	if f.state != FleetRunning && f.state != FleetStarting {
		return sessionCapacity{}
	}
	// Sums in int64: a fleet may have 1000 instances of up to 2³¹−1 slots.
	var available, active, pending, draining, drainActive, drainUnused int64
	per := int64(f.maxSessions)
	for _, in := range f.instances {
		used := int64(len(in.sessions))
		active += used
		switch {
		case in.draining && in.state != InstanceTerminating:
			draining++
			drainActive += used
			drainUnused += max(per-used, 0)
		case in.counted():
			available += max(per-used, 0)
		case in.state == InstancePending && !in.failing:
			pending += per
		}
	}
	return sessionCapacity{
		desired: sat32(available + active + pending), available: sat32(available), active: sat32(active),
		actual: sat32(available + active), draining: sat32(draining), drainActive: sat32(drainActive), drainUnused: sat32(drainUnused),
	}
}

// sat32 is n as an int32, saturated at the int32 range (AWS's Integer).
func sat32(n int64) int32 {
	return int32(min(max(n, math.MinInt32), math.MaxInt32))
}

// scalingCapacity is the fleet's capacity as Application Auto Scaling sees it
// (appstream:fleet:DesiredCapacity): instances for a single-session fleet, user sessions for a
// multi-session one.
func (f *fleet) scalingCapacity() int32 {
	if f.multiSession() {
		return f.desiredSessions
	}
	return f.desired
}

// instancesFor is how many instances a multi-session fleet needs for that many sessions.
func instancesFor(sessions, perInstance int32) int64 {
	if perInstance <= 1 {
		return int64(sessions)
	}
	return (int64(sessions) + int64(perInstance) - 1) / int64(perInstance)
}

// reconcile brings the number of live instances to the desired capacity: it launches what is
// missing and, when there are too many, terminates pending instances first, then idle ones.
// Instances with a session are never terminated by a capacity change.
func (s *Sim) reconcile(f *fleet) {
	if f.fleetType == FleetElastic || (f.state != FleetRunning && f.state != FleetStarting) {
		return
	}
	live := 0
	for _, in := range f.instances {
		if in.state != InstanceTerminating {
			live++
		}
	}
	for ; live < int(f.desired); live++ {
		s.launch(f)
	}
	excess := live - int(f.desired)
	for _, wantState := range []string{InstancePending, InstanceRunning} {
		// Newest first for pending ones (least work lost); among idle ones, old images first.
		for i := len(f.instances) - 1; i >= 0 && excess > 0; i-- {
			in := f.instances[i]
			if in.state == wantState && in.idle() && in.imageArn != f.imageArn {
				s.terminate(f, in, false)
				excess--
			}
		}
		for i := len(f.instances) - 1; i >= 0 && excess > 0; i-- {
			in := f.instances[i]
			if in.state == wantState && in.idle() {
				s.terminate(f, in, false)
				excess--
			}
		}
	}
}

// launch adds a PENDING instance on the fleet's current image, which becomes RUNNING after
// InstanceProvision, ten times that on a slow-start image, or never on an instances-fail image.
func (s *Sim) launch(f *fleet) *instance {
	in := &instance{
		id:       fmt.Sprintf("i-%017x", s.nextID()),
		imageArn: f.imageArn,
		state:    InstancePending,
		launched: s.now,
	}
	f.instances = append(f.instances, in)
	provision := s.timings.InstanceProvision
	switch s.fleetImageDefect(f) {
	case ImageDefectInstancesFail:
		in.failing = true
		return in
	case ImageDefectSlowStart:
		provision *= slowStartFactor
	}
	in.ready = s.now.Add(provision)
	s.after(provision, func() {
		if in.state == InstancePending {
			in.state = InstanceRunning
			s.touch(f)
		}
	})
	return in
}

// launchReady adds an instance that is already running, for seeded steady-state fleets. An
// instance on an instances-fail image stays PENDING even there.
func (s *Sim) launchReady(f *fleet) {
	in := s.launch(f)
	if in.failing {
		return
	}
	in.state = InstanceRunning
	in.ready = s.now
	s.touch(f)
}

func (s *Sim) terminate(f *fleet, in *instance, recycled bool) {
	if in.state == InstanceTerminating {
		return
	}
	wasPending := in.state == InstancePending
	in.state = InstanceTerminating
	in.recycled = recycled || wasPending
	s.touch(f)
	s.after(s.timings.InstanceTerminate, func() {
		for i, x := range f.instances {
			if x == in {
				f.instances = append(f.instances[:i], f.instances[i+1:]...)
				s.touch(f)
				break
			}
		}
	})
}

// fleetImage returns the image a fleet uses, or nil (an ELASTIC fleet has none).
func (s *Sim) fleetImage(f *fleet) *image {
	if img, ok := s.images[f.imageName]; ok && img.arn == f.imageArn {
		return img
	}
	return nil
}

// fleetImageDefect returns the defect of the image a fleet uses ("" for none).
func (s *Sim) fleetImageDefect(f *fleet) string {
	if img := s.fleetImage(f); img != nil {
		return img.defect
	}
	return ""
}

// endSession ends a streaming session. A single-session instance is recycled, as AppStream
// does, and the fleet launches a replacement on its current image. A multi-session instance
// keeps running while it hosts other sessions; once empty it is recycled and replaced if it is
// in drain mode or on an image the fleet no longer uses, and otherwise stays as idle capacity
// (unless the fleet now has more instances than it wants, which reconcile sorts out).
func (s *Sim) endSession(ss *session) {
	delete(s.sessions, ss.id)
	in := ss.instance
	f := s.fleets[ss.fleetName]
	if in == nil || f == nil {
		return
	}
	in.sessions = slices.DeleteFunc(in.sessions, func(x *session) bool { return x == ss })
	s.touch(f)
	if in.idle() && (!f.multiSession() || in.draining || in.imageArn != f.imageArn) {
		s.terminate(f, in, true)
	}
	s.reconcile(f)
}

// setFleetImage points a fleet at a new image. On a running fleet the change rolls over: pending
// instances restart on the new image now, idle ones are replaced in batches, and instances in use
// are replaced when their session ends.
func (s *Sim) setFleetImage(f *fleet, img *image) {
	if f.imageArn == img.arn {
		return
	}
	f.imageName, f.imageArn, f.platform = img.name, img.arn, img.platform
	if f.state != FleetRunning && f.state != FleetStarting {
		return
	}
	for _, in := range f.instances {
		if in.state == InstancePending {
			s.terminate(f, in, true)
		}
	}
	s.reconcile(f)
	s.scheduleImageRoll(f)
}

func (s *Sim) scheduleImageRoll(f *fleet) {
	if f.rollScheduled {
		return
	}
	f.rollScheduled = true
	s.after(s.timings.ImageReplace, func() {
		f.rollScheduled = false
		if s.fleets[f.name] != f || f.state != FleetRunning {
			return
		}
		batch := max(1, (int(f.desired)+3)/4)
		remaining := 0
		for _, in := range f.instances {
			if in.state != InstanceRunning || !in.idle() || in.imageArn == f.imageArn {
				continue
			}
			if batch > 0 {
				s.terminate(f, in, true)
				batch--
			} else {
				remaining++
			}
		}
		s.reconcile(f)
		if remaining > 0 {
			s.scheduleImageRoll(f)
		}
	})
}

func (s *Sim) startFleet(f *fleet) {
	f.state = FleetStarting
	f.errors = nil
	f.transition++
	gen := f.transition
	s.touch(f)
	s.reconcile(f)
	s.after(s.timings.FleetStart, func() {
		if f.state == FleetStarting && f.transition == gen {
			f.state = FleetRunning
			s.touch(f)
		}
	})
}

func (s *Sim) stopFleet(f *fleet) {
	f.state = FleetStopping
	s.touch(f)
	for _, ss := range s.sessions {
		if ss.fleetName == f.name {
			ss.instance.sessions = nil
			delete(s.sessions, ss.id)
		}
	}
	for _, in := range f.instances {
		s.terminate(f, in, true)
	}
	f.transition++
	gen := f.transition
	s.after(s.timings.FleetStop, func() {
		if f.state == FleetStopping && f.transition == gen {
			f.state = FleetStopped
			f.instances = nil
			s.touch(f)
		}
	})
}

// fleetARN and friends build ARNs as AWS does.
func (s *Sim) arn(kind, name string) string {
	return fmt.Sprintf("arn:aws:appstream:%s:%s:%s/%s", s.opts.Region, s.opts.AccountID, kind, name)
}

// taggable finds the tags of the resource an ARN names, for the tagging operations.
func (s *Sim) taggable(arn string) (*map[string]string, error) {
	notFound := wire.Errorf("ResourceNotFoundException", "The resource %s does not exist.", arn)
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "appstream" {
		return nil, notFound
	}
	kind, name, _ := strings.Cut(parts[5], "/")
	switch kind {
	case "fleet":
		if f, ok := s.fleets[name]; ok && f.arn == arn {
			return &f.tags, nil
		}
	case "image":
		if img, ok := s.images[name]; ok && img.arn == arn && img.visibility != "PUBLIC" {
			return &img.tags, nil
		}
	case "stack":
		if st, ok := s.stacks[name]; ok && st.arn == arn {
			return &st.tags, nil
		}
	}
	return nil, notFound
}

// addPublicImages installs a few AWS base images, as every real account sees them.
func (s *Sim) addPublicImages() {
	created := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
	for _, p := range []struct{ name, platform string }{
		{"AppStream-WinServer2022-06-10-2025", "WINDOWS_SERVER_2022"},
		{"AppStream-WinServer2019-06-10-2025", "WINDOWS_SERVER_2019"},
		{"AppStream-AmazonLinux2-06-10-2025", "AMAZON_LINUX2"},
	} {
		s.images[p.name] = &image{
			name:       p.name,
			arn:        fmt.Sprintf("arn:aws:appstream:%s::image/%s", s.opts.Region, p.name),
			state:      ImageAvailable,
			platform:   p.platform,
			visibility: "PUBLIC",
			created:    created,
		}
	}
}

// findImage resolves an image by name or ARN.
func (s *Sim) findImage(name, arn string) *image {
	if arn != "" {
		for _, img := range s.images {
			if img.arn == arn {
				return img
			}
		}
		return nil
	}
	return s.images[name]
}

// --- wire shapes ---

type wireCapacityStatus struct {
	Desired   int32 `json:"Desired"`
	Running   int32 `json:"Running"`
	InUse     int32 `json:"InUse"`
	Available int32 `json:"Available"`
	// The user-session members apply to multi-session fleets only and are left out otherwise.
	DesiredUserSessions         *int32 `json:"DesiredUserSessions,omitempty"`
	AvailableUserSessions       *int32 `json:"AvailableUserSessions,omitempty"`
	ActiveUserSessions          *int32 `json:"ActiveUserSessions,omitempty"`
	ActualUserSessions          *int32 `json:"ActualUserSessions,omitempty"`
	Draining                    *int32 `json:"Draining,omitempty"`
	DrainModeActiveUserSessions *int32 `json:"DrainModeActiveUserSessions,omitempty"`
	DrainModeUnusedUserSessions *int32 `json:"DrainModeUnusedUserSessions,omitempty"`
}

func (f *fleet) wireCapacity() wireCapacityStatus {
	running, inUse, available := f.capacity()
	out := wireCapacityStatus{Desired: f.desired, Running: running, InUse: inUse, Available: available}
	if f.multiSession() {
		c := f.sessionCapacity()
		if f.state != FleetRunning && f.state != FleetStarting {
			// Like Desired, the desired session slots are reported whatever the state.
			c.desired = sat32(int64(f.desired) * int64(f.maxSessions))
		}
		i := func(v int32) *int32 { return &v }
		out.DesiredUserSessions, out.AvailableUserSessions = i(c.desired), i(c.available)
		out.ActiveUserSessions, out.ActualUserSessions = i(c.active), i(c.actual)
		out.Draining, out.DrainModeActiveUserSessions, out.DrainModeUnusedUserSessions = i(c.draining), i(c.drainActive), i(c.drainUnused)
	}
	return out
}

type wireFleet struct {
	Arn                            string              `json:"Arn"`
	Name                           string              `json:"Name"`
	DisplayName                    string              `json:"DisplayName,omitempty"`
	Description                    string              `json:"Description,omitempty"`
	ImageName                      string              `json:"ImageName,omitempty"`
	ImageArn                       string              `json:"ImageArn,omitempty"`
	InstanceType                   string              `json:"InstanceType"`
	FleetType                      string              `json:"FleetType"`
	ComputeCapacityStatus          wireCapacityStatus  `json:"ComputeCapacityStatus"`
	MaxUserDurationInSeconds       int32               `json:"MaxUserDurationInSeconds,omitempty"`
	DisconnectTimeoutInSeconds     int32               `json:"DisconnectTimeoutInSeconds,omitempty"`
	IdleDisconnectTimeoutInSeconds int32               `json:"IdleDisconnectTimeoutInSeconds"`
	State                          string              `json:"State"`
	VpcConfig                      *wireVpcConfig      `json:"VpcConfig,omitempty"`
	CreatedTime                    *wire.Time          `json:"CreatedTime,omitempty"`
	FleetErrors                    []map[string]string `json:"FleetErrors,omitempty"`
	EnableDefaultInternetAccess    bool                `json:"EnableDefaultInternetAccess"`
	IamRoleArn                     string              `json:"IamRoleArn,omitempty"`
	StreamView                     string              `json:"StreamView,omitempty"`
	Platform                       string              `json:"Platform,omitempty"`
	MaxConcurrentSessions          int32               `json:"MaxConcurrentSessions,omitempty"`
	MaxSessionsPerInstance         int32               `json:"MaxSessionsPerInstance,omitempty"`
}

type wireVpcConfig struct {
	SubnetIds        []string `json:"SubnetIds,omitempty"`
	SecurityGroupIds []string `json:"SecurityGroupIds,omitempty"`
}

func (s *Sim) wireFleet(f *fleet) wireFleet {
	out := wireFleet{
		Arn: f.arn, Name: f.name, DisplayName: f.displayName, Description: f.description,
		ImageName: f.imageName, ImageArn: f.imageArn, InstanceType: f.instanceType, FleetType: f.fleetType,
		ComputeCapacityStatus:          f.wireCapacity(),
		MaxUserDurationInSeconds:       f.maxUserDuration,
		DisconnectTimeoutInSeconds:     f.disconnectTimeout,
		IdleDisconnectTimeoutInSeconds: f.idleDisconnectTimeout,
		State:                          f.state,
		CreatedTime:                    wire.TimePtr(f.created),
		EnableDefaultInternetAccess:    f.enableDefaultInternetAccess,
		IamRoleArn:                     f.iamRoleArn,
		StreamView:                     f.streamView,
		Platform:                       f.platform,
		MaxConcurrentSessions:          f.maxConcurrent,
		MaxSessionsPerInstance:         f.maxSessions,
	}
	for _, code := range f.errors {
		out.FleetErrors = append(out.FleetErrors, map[string]string{"ErrorCode": code, "ErrorMessage": fleetErrorMessage(code)})
	}
	// A fleet that wants capacity from an instances-fail image reports it for as long as it
	// uses that image; pointing it at a good image clears the error.
	wantsCapacity := (f.state == FleetStarting || f.state == FleetRunning) && f.desired > 0
	if img := s.fleetImage(f); wantsCapacity && img != nil && img.defect == ImageDefectInstancesFail {
		out.FleetErrors = append(out.FleetErrors, map[string]string{"ErrorCode": imageDefectError,
			"ErrorMessage": fmt.Sprintf("Streaming instances launched from image %s failed to become available (image defect %s, set by the emulator's control API).", img.name, img.defect)})
	}
	if len(f.vpcSubnets) > 0 || len(f.vpcSecurityGroups) > 0 {
		out.VpcConfig = &wireVpcConfig{SubnetIds: f.vpcSubnets, SecurityGroupIds: f.vpcSecurityGroups}
	}
	return out
}

type wireImage struct {
	Name                  string            `json:"Name"`
	Arn                   string            `json:"Arn"`
	BaseImageArn          string            `json:"BaseImageArn,omitempty"`
	DisplayName           string            `json:"DisplayName,omitempty"`
	Description           string            `json:"Description,omitempty"`
	State                 string            `json:"State"`
	Visibility            string            `json:"Visibility"`
	ImageBuilderSupported bool              `json:"ImageBuilderSupported"`
	Platform              string            `json:"Platform"`
	CreatedTime           *wire.Time        `json:"CreatedTime,omitempty"`
	ImagePermissions      *wireImagePerms   `json:"ImagePermissions,omitempty"`
	StateChangeReason     map[string]string `json:"StateChangeReason,omitempty"`
	ImageType             string            `json:"ImageType,omitempty"`
}

// wireImagePerms uses the model's lowerCamelCase wire names.
type wireImagePerms struct {
	AllowFleet        bool `json:"allowFleet"`
	AllowImageBuilder bool `json:"allowImageBuilder"`
}

func wireImageOf(img *image) wireImage {
	out := wireImage{
		Name: img.name, Arn: img.arn, BaseImageArn: img.baseImageArn, DisplayName: img.displayName,
		Description: img.description, State: img.state, Visibility: img.visibility,
		ImageBuilderSupported: true, Platform: img.platform, CreatedTime: wire.TimePtr(img.created),
		ImageType: "CUSTOM",
	}
	if img.visibility == "PUBLIC" {
		out.ImageType = "NATIVE"
	}
	if img.visibility != "PUBLIC" {
		out.ImagePermissions = &wireImagePerms{AllowFleet: true, AllowImageBuilder: true}
	}
	if img.state == "FAILED" {
		out.StateChangeReason = map[string]string{"Code": "INTERNAL_ERROR", "Message": "The image failed (set by the emulator's control API)."}
	}
	return out
}

type wireStack struct {
	Arn         string     `json:"Arn"`
	Name        string     `json:"Name"`
	DisplayName string     `json:"DisplayName,omitempty"`
	Description string     `json:"Description,omitempty"`
	CreatedTime *wire.Time `json:"CreatedTime,omitempty"`
}

type wireSession struct {
	Id                  string     `json:"Id"`
	UserId              string     `json:"UserId"`
	StackName           string     `json:"StackName"`
	FleetName           string     `json:"FleetName"`
	State               string     `json:"State"`
	ConnectionState     string     `json:"ConnectionState"`
	StartTime           *wire.Time `json:"StartTime,omitempty"`
	MaxExpirationTime   *wire.Time `json:"MaxExpirationTime,omitempty"`
	AuthenticationType  string     `json:"AuthenticationType"`
	InstanceId          string     `json:"InstanceId,omitempty"`
	InstanceDrainStatus string     `json:"InstanceDrainStatus"`
}

// wireSessionOf is a session in the AWS shape. InstanceDrainStatus is NOT_APPLICABLE on a
// single-session fleet, and ACTIVE or DRAINING on a multi-session one.
func wireSessionOf(ss *session, f *fleet) wireSession {
	out := wireSession{
		Id: ss.id, UserId: ss.userID, StackName: ss.stackName, FleetName: ss.fleetName,
		State: "ACTIVE", ConnectionState: "CONNECTED",
		StartTime: wire.TimePtr(ss.start), MaxExpirationTime: wire.TimePtr(ss.maxExpiration),
		AuthenticationType: ss.authType, InstanceDrainStatus: "NOT_APPLICABLE",
	}
	if ss.instance != nil {
		out.InstanceId = ss.instance.id
		if f != nil && f.multiSession() {
			out.InstanceDrainStatus = "ACTIVE"
			if ss.instance.draining {
				out.InstanceDrainStatus = "DRAINING"
			}
		}
	}
	return out
}

func fleetErrorMessage(code string) string {
	if code == "IMAGE_NOT_FOUND" {
		return "The fleet's image does not exist or is not AVAILABLE."
	}
	return code
}
