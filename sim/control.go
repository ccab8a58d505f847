package sim

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/ses"
	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// ControlError is an error of the emulator's control API (not an AWS error): bad input, an
// unknown resource, or a request that conflicts with the emulated world.
type ControlError struct {
	Status  int
	Message string
}

func (e *ControlError) Error() string { return e.Message }

func notFoundf(format string, args ...any) error {
	return &ControlError{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &ControlError{Status: http.StatusConflict, Message: fmt.Sprintf(format, args...)}
}

func badRequestf(format string, args ...any) error {
	return &ControlError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// newUUID returns a random UUID drawn from the emulator's generator.
func newUUID(s *Sim) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return wire.UUID(b)
}

// newTargetID returns the 36-character id at the end of a scalable target ARN.
func newTargetID(s *Sim) string {
	var b [18]byte
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return hex.EncodeToString(b[:])
}

// Message is an email the emulated SES accepted.
type Message = ses.Message

// ImageSpec describes an image to create through the control API. No AWS API creates an image
// from nothing, so this is how tests and demos get one.
type ImageSpec struct {
	Name string `yaml:"Name"`
	// Platform defaults to WINDOWS_SERVER_2022.
	Platform string `json:",omitempty" yaml:"Platform"`
	// State defaults to AVAILABLE.
	State       string `json:",omitempty" yaml:"State"`
	DisplayName string `json:",omitempty" yaml:"DisplayName"`
	Description string `json:",omitempty" yaml:"Description"`
	// Visibility is PRIVATE (default) or SHARED; a shared image's ARN carries OwnerAccountId.
	Visibility     string `json:",omitempty" yaml:"Visibility"`
	OwnerAccountId string `json:",omitempty" yaml:"OwnerAccountId"`
	BaseImageArn   string `json:",omitempty" yaml:"BaseImageArn"`
	// Tags are set on the image, as TagResource would (and validated the same way).
	Tags map[string]string `json:",omitempty" yaml:"Tags"`
	// Defect makes the image bad in a way AWS images can be: "instances-fail" (instances
	// launched from it never become available, and fleets using it report FleetErrors) or
	// "slow-start" (they take ten times InstanceProvision). Empty means none. It is not
	// visible through the AWS API.
	Defect string `json:",omitempty" yaml:"Defect"`
}

// imageDefects are the values ImageSpec.Defect accepts besides "".
var imageDefects = []string{ImageDefectInstancesFail, ImageDefectSlowStart}

func (spec *ImageSpec) normalize() error {
	if spec.Platform == "" {
		spec.Platform = "WINDOWS_SERVER_2022"
	}
	if spec.State == "" {
		spec.State = ImageAvailable
	}
	if spec.Visibility == "" {
		spec.Visibility = "PRIVATE"
	}
	var v validation
	v.required(spec.Name != "", "Name")
	if spec.Name != "" {
		v.name(&spec.Name, "Name")
	}
	v.enum(&spec.Platform, "Platform", platforms...)
	v.enum(&spec.State, "State", imageStates...)
	v.enum(&spec.Visibility, "Visibility", "PRIVATE", "SHARED")
	v.appStreamTags(spec.Tags, "Tags", 0)
	if err := v.err(); err != nil {
		return badRequestf("%s", strings.TrimPrefix(err.Error(), "ValidationException: "))
	}
	if spec.Defect != "" && !slices.Contains(imageDefects, spec.Defect) {
		return badRequestf("Defect must be %q, %q or empty (no defect), not %q", ImageDefectInstancesFail, ImageDefectSlowStart, spec.Defect)
	}
	return nil
}

// CreateImage adds a private (or shared) image and returns it in the AWS shape.
func (s *Sim) CreateImage(spec ImageSpec) (json.RawMessage, error) {
	if err := spec.normalize(); err != nil {
		return nil, err
	}
	s.lock()
	defer s.mu.Unlock()
	if _, ok := s.images[spec.Name]; ok {
		return nil, conflictf("image %s already exists", spec.Name)
	}
	account := s.opts.AccountID
	if spec.Visibility == "SHARED" {
		account = spec.OwnerAccountId
		if account == "" {
			account = "210987654321"
		}
	}
	img := &image{
		name: spec.Name, arn: fmt.Sprintf("arn:aws:appstream:%s:%s:image/%s", s.opts.Region, account, spec.Name),
		baseImageArn: spec.BaseImageArn, displayName: spec.DisplayName, description: spec.Description,
		state: spec.State, platform: spec.Platform, visibility: spec.Visibility, created: s.now,
		tags: map[string]string{}, defect: spec.Defect,
	}
	for k, val := range spec.Tags {
		img.tags[k] = val
	}
	s.images[img.name] = img
	return json.Marshal(wireImageOf(img))
}

// SetImageState changes an image's state (for example to FAILED, or from PENDING to AVAILABLE).
func (s *Sim) SetImageState(name, state string) error {
	var v validation
	v.enum(&state, "State", imageStates...)
	if err := v.err(); err != nil {
		return badRequestf("%s", strings.TrimPrefix(err.Error(), "ValidationException: "))
	}
	s.lock()
	defer s.mu.Unlock()
	img, ok := s.images[name]
	if !ok {
		return notFoundf("image %s does not exist", name)
	}
	if img.visibility == "PUBLIC" {
		return conflictf("image %s is an AWS public image; its state cannot be changed", name)
	}
	img.state = state
	return nil
}

// SessionSpec starts a streaming session through the control API.
type SessionSpec struct {
	FleetName string `yaml:"FleetName"`
	StackName string `yaml:"StackName"`
	UserId    string `yaml:"UserId"`
	// AuthenticationType defaults to API, the type DescribeSessions lists by default.
	AuthenticationType string `json:",omitempty" yaml:"AuthenticationType"`
}

// SessionInfo identifies a session started through the control API.
type SessionInfo struct {
	SessionId  string
	InstanceId string
}

// StartSession places a user on an idle instance of a running fleet. It fails with a 409
// ControlError when no instance is free.
func (s *Sim) StartSession(spec SessionSpec) (SessionInfo, error) {
	if spec.FleetName == "" || spec.StackName == "" || spec.UserId == "" {
		return SessionInfo{}, badRequestf("FleetName, StackName and UserId are required")
	}
	if n := len(spec.UserId); n < 2 || n > 128 {
		return SessionInfo{}, badRequestf("UserId must be 2 to 128 characters")
	}
	switch spec.AuthenticationType {
	case "", "API", "SAML", "USERPOOL", "AWS_AD":
	default:
		return SessionInfo{}, badRequestf("AuthenticationType must be API, SAML, USERPOOL or AWS_AD")
	}
	s.lock()
	defer s.mu.Unlock()
	ss, err := s.startSession(spec.FleetName, spec.StackName, spec.UserId, spec.AuthenticationType)
	if err != nil {
		return SessionInfo{}, err
	}
	return SessionInfo{SessionId: ss.id, InstanceId: ss.instance.id}, nil
}

// EndSession ends a session as if the user logged off.
func (s *Sim) EndSession(id string) error {
	s.lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return notFoundf("session %s does not exist", id)
	}
	s.endSession(ss)
	return nil
}

// Instance is a streaming instance, which AppStream does not expose but the emulator does so
// that tests can see drains and image roll-overs happen.
type Instance struct {
	InstanceId string
	State      string
	ImageArn   string
	// ImageName is the name of the image the instance was launched from.
	ImageName string
	// SessionId is the session of an instance of a single-session fleet (left out when idle,
	// and on multi-session fleets, which use SessionIds).
	SessionId string `json:",omitempty"`
	// SessionIds are the sessions the instance hosts, oldest first (left out when idle).
	SessionIds []string `json:",omitempty"`
	// DrainStatus is NOT_APPLICABLE on a single-session fleet, and ACTIVE or DRAINING
	// (DrainSessionInstance) on a multi-session one, as DescribeSessions reports it for the
	// instance's sessions.
	DrainStatus string
	LaunchTime  time.Time
	// ReadyTime is when a PENDING instance becomes (or became) RUNNING. It is left out for an
	// instance on an instances-fail image, which never does.
	ReadyTime time.Time `json:",omitzero"`
}

// imageNameOf is the name at the end of an image ARN (…:image/NAME).
func imageNameOf(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// Instances returns a fleet's instances in launch order.
func (s *Sim) Instances(fleetName string) ([]Instance, error) {
	s.lock()
	defer s.mu.Unlock()
	f, ok := s.fleets[fleetName]
	if !ok {
		return nil, notFoundf("fleet %s does not exist", fleetName)
	}
	out := make([]Instance, 0, len(f.instances))
	for _, in := range f.instances {
		i := Instance{InstanceId: in.id, State: in.state, ImageArn: in.imageArn, ImageName: imageNameOf(in.imageArn),
			DrainStatus: "NOT_APPLICABLE", LaunchTime: in.launched, ReadyTime: in.ready}
		for _, ss := range in.sessions {
			i.SessionIds = append(i.SessionIds, ss.id)
		}
		switch {
		case f.multiSession() && in.draining:
			i.DrainStatus = "DRAINING"
		case f.multiSession():
			i.DrainStatus = "ACTIVE"
		case len(in.sessions) > 0:
			i.SessionId = in.sessions[0].id
		}
		out = append(out, i)
	}
	return out, nil
}

// Messages returns every email sent through SES v1 or v2, in order.
func (s *Sim) Messages() []Message { return s.ses.Messages() }

// VerifyEmailIdentity verifies an email address or domain for sending, as if its owner had
// clicked the verification link.
func (s *Sim) VerifyEmailIdentity(identity string) { s.ses.VerifyIdentity(identity) }

// Advance moves a ManualClock forward and applies everything that fell due, in every world (the
// clock is theirs too). It fails when the emulator runs on another clock.
func (s *Sim) Advance(d time.Duration) error {
	mc, ok := s.clock.(*ManualClock)
	if !ok {
		return conflictf("the emulator runs on the wall clock; only a manual clock can be advanced")
	}
	mc.Advance(d)
	for _, w := range s.worlds() {
		w.lock()
		w.mu.Unlock()
	}
	return nil
}

// serveControl answers the /_sim/ control API.
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	s.control.ServeHTTP(w, r)
}

func (s *Sim) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	s.eventRoutes(mux)
	mux.HandleFunc("GET /_sim/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, map[string]any{"Endpoints": controlEndpoints, "Region": s.opts.Region, "AccountId": s.opts.AccountID})
	})
	mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
		if scoped(r) {
			s.resetWorld()
		} else {
			s.Reset()
		}
		writeControl(w, http.StatusOK, map[string]string{})
	})
	s.accountRoutes(mux)
	mux.HandleFunc("POST /_sim/appstream/images", func(w http.ResponseWriter, r *http.Request) {
		var spec ImageSpec
		if !readControl(w, r, &spec) {
			return
		}
		img, err := s.CreateImage(spec)
		respond(w, http.StatusCreated, img, err)
	})
	mux.HandleFunc("POST /_sim/appstream/images/{name}/state", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ State string }
		if !readControl(w, r, &in) {
			return
		}
		respond(w, http.StatusOK, map[string]string{"Name": r.PathValue("name"), "State": in.State}, s.SetImageState(r.PathValue("name"), in.State))
	})
	mux.HandleFunc("POST /_sim/appstream/sessions", func(w http.ResponseWriter, r *http.Request) {
		var spec SessionSpec
		if !readControl(w, r, &spec) {
			return
		}
		info, err := s.StartSession(spec)
		respond(w, http.StatusCreated, info, err)
	})
	mux.HandleFunc("DELETE /_sim/appstream/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		respond(w, http.StatusOK, map[string]string{}, s.EndSession(r.PathValue("id")))
	})
	mux.HandleFunc("GET /_sim/appstream/fleets/{name}/instances", func(w http.ResponseWriter, r *http.Request) {
		ins, err := s.Instances(r.PathValue("name"))
		respond(w, http.StatusOK, map[string]any{"FleetName": r.PathValue("name"), "Instances": ins}, err)
	})
	mux.HandleFunc("GET /_sim/appstream/fleets/{name}/timeline", func(w http.ResponseWriter, r *http.Request) {
		tl, err := s.Timeline(r.PathValue("name"))
		respond(w, http.StatusOK, tl, err)
	})
	mux.HandleFunc("GET /_sim/appstream/timelines", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, map[string]any{"Timelines": s.Timelines()})
	})
	mux.HandleFunc("GET /_sim/ses/messages", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, map[string]any{"Messages": s.Messages()})
	})
	mux.HandleFunc("GET /_sim/calls", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.Calls())
	})
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, map[string]any{"Faults": s.Faults()})
	})
	mux.HandleFunc("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readControl(w, r, &f) {
			return
		}
		err := s.AddFault(f)
		if err != nil {
			err = badRequestf("%s", err)
		}
		respond(w, http.StatusCreated, map[string]any{"Faults": s.Faults()}, err)
	})
	mux.HandleFunc("DELETE /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		writeControl(w, http.StatusOK, map[string]any{"Faults": []Fault{}})
	})
	mux.HandleFunc("GET /_sim/clock", func(w http.ResponseWriter, r *http.Request) {
		_, manual := s.clock.(*ManualClock)
		writeControl(w, http.StatusOK, map[string]any{"Now": s.clock.Now(), "Speed": max(s.opts.Speed, 1), "Manual": manual})
	})
	mux.HandleFunc("POST /_sim/clock/advance", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Seconds float64 }
		if !readControl(w, r, &in) {
			return
		}
		if in.Seconds <= 0 {
			writeControlError(w, badRequestf("Seconds must be positive"))
			return
		}
		err := s.Advance(time.Duration(in.Seconds * float64(time.Second)))
		respond(w, http.StatusOK, map[string]any{"Now": s.clock.Now()}, err)
	})
	s.workspaceRoutes(mux)
	s.snsRoutes(mux)
	mux.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		writeControlError(w, notFoundf("no control endpoint %s %s; GET /_sim/ lists them", r.Method, r.URL.Path))
	})
	return mux
}

var controlEndpoints = []string{
	"POST /_sim/reset",
	"GET /_sim/accounts",
	"POST /_sim/accounts",
	"POST /_sim/sts/expire",
	"/_sim/accounts/{id}/regions/{region}/… (that world's own control API)",
	"POST /_sim/appstream/images",
	"POST /_sim/appstream/images/{name}/state",
	"POST /_sim/appstream/sessions",
	"DELETE /_sim/appstream/sessions/{id}",
	"GET /_sim/appstream/fleets/{name}/instances",
	"GET /_sim/appstream/fleets/{name}/timeline",
	"GET /_sim/appstream/timelines",
	"GET /_sim/ses/messages",
	"POST /_sim/workspaces",
	"GET /_sim/workspaces/{id}",
	"POST /_sim/workspaces/{id}/connect",
	"POST /_sim/workspaces/{id}/disconnect",
	"POST /_sim/workspaces/{id}/state",
	"POST /_sim/sns/subscriptions",
	"GET /_sim/sns/subscriptions",
	"GET /_sim/sns/SimpleNotificationService-deskpilot-sim.pem",
	"POST /_sim/sns/publish-alarm",
	"GET /_sim/sns/deliveries",
	"GET /_sim/calls",
	"GET /_sim/faults",
	"POST /_sim/faults",
	"DELETE /_sim/faults",
	"GET /_sim/clock",
	"POST /_sim/clock/advance",
	"GET /_sim/events/targets",
	"POST /_sim/events/targets",
	"DELETE /_sim/events/targets",
	"POST /_sim/events/drop",
}

func readControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeControlError(w, badRequestf("malformed JSON body: %v", err))
		return false
	}
	return true
}

func respond(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		writeControlError(w, err)
		return
	}
	writeControl(w, status, v)
}

func writeControl(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeControlError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ce *ControlError
	if errors.As(err, &ce) {
		status = ce.Status
	}
	writeControl(w, status, map[string]string{"Error": err.Error()})
}
