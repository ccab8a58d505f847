package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Seed is a scenario loaded at start (deskpilot sim --seed FILE): the estate an admin would
// already have. Keys are the AWS member names, as in the control API. Fleets with State RUNNING
// start with their instances already provisioned, as a steady-state estate would be.
//
//	Images:
//	  - {Name: img-1, Platform: WINDOWS_SERVER_2022}
//	Fleets:
//	  - Name: fleet-a
//	    ImageName: img-1
//	    FleetType: ALWAYS_ON
//	    DesiredInstances: 2
//	    State: RUNNING
//	    ScalableTarget: {MinCapacity: 1, MaxCapacity: 4}
//	    Tags: {MaintenanceWindow: "sun:02:00-sun:05:00 Europe/Berlin"}
//	Stacks:
//	  - {Name: stack-a, Fleets: [fleet-a]}
//	Sessions:
//	  - {FleetName: fleet-a, StackName: stack-a, UserId: alice}
//	Workspaces:
//	  - {WorkspaceId: ws-abc123def, DirectoryId: d-1234567890, UserName: alice, BundleId: wsb-1234567890}
//	VerifiedEmailIdentities: [deskpilot@example.com]
//	Accounts:
//	  - Id: "222222222222"
//	    AccessKeys: [AKIA2222222222222222]
//	    Roles:
//	      - {RoleName: deskpilot, TrustedAccounts: ["123456789012"], ExternalId: ext-1}
//	    DeniedRegions: [ap-south-1]
type Seed struct {
	// Accounts are declared (as SetAccount declares them) before anything else is created.
	Accounts                []Account       `yaml:"Accounts"`
	Images                  []ImageSpec     `yaml:"Images"`
	Fleets                  []SeedFleet     `yaml:"Fleets"`
	Stacks                  []SeedStack     `yaml:"Stacks"`
	Sessions                []SessionSpec   `yaml:"Sessions"`
	Workspaces              []WorkspaceSpec `yaml:"Workspaces"`
	VerifiedEmailIdentities []string        `yaml:"VerifiedEmailIdentities"`
	// Queues are SQS queues to create; EventQueues are created too, and receive the tag
	// events (as POST /_sim/events/targets would make them).
	Queues      []string `yaml:"Queues"`
	EventQueues []string `yaml:"EventQueues"`
}

// SeedFleet is a fleet in a Seed.
type SeedFleet struct {
	Name         string `yaml:"Name"`
	ImageName    string `yaml:"ImageName"`
	InstanceType string `yaml:"InstanceType"`
	// FleetType defaults to ALWAYS_ON.
	FleetType        string `yaml:"FleetType"`
	DesiredInstances int32  `yaml:"DesiredInstances"`
	// MaxSessionsPerInstance above 1 makes a multi-session fleet, whose capacity is
	// DesiredSessions (and whose ScalableTarget counts sessions).
	MaxSessionsPerInstance int32 `yaml:"MaxSessionsPerInstance"`
	DesiredSessions        int32 `yaml:"DesiredSessions"`
	// State is RUNNING (default) or STOPPED.
	State          string             `yaml:"State"`
	Platform       string             `yaml:"Platform"`
	Tags           map[string]string  `yaml:"Tags"`
	ScalableTarget *SeedScalingTarget `yaml:"ScalableTarget"`
}

// SeedScalingTarget registers an Application Auto Scaling target for a seeded fleet.
type SeedScalingTarget struct {
	MinCapacity int32 `yaml:"MinCapacity"`
	MaxCapacity int32 `yaml:"MaxCapacity"`
	// SuspendedState, as in RegisterScalableTarget; nil suspends nothing.
	SuspendedState *SeedSuspendedState `yaml:"SuspendedState"`
}

// SeedSuspendedState is a seeded target's SuspendedState.
type SeedSuspendedState struct {
	DynamicScalingInSuspended  bool `yaml:"DynamicScalingInSuspended"`
	DynamicScalingOutSuspended bool `yaml:"DynamicScalingOutSuspended"`
	ScheduledScalingSuspended  bool `yaml:"ScheduledScalingSuspended"`
}

// SeedStack is a stack in a Seed, with the fleets associated with it.
type SeedStack struct {
	Name   string   `yaml:"Name"`
	Fleets []string `yaml:"Fleets"`
}

// LoadSeedFile reads a YAML scenario from path and applies it (see Seed).
func (s *Sim) LoadSeedFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read seed: %w", err)
	}
	if err := s.LoadSeed(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("seed %s: %w", path, err)
	}
	return nil
}

// LoadSeed reads a YAML scenario and applies it. Unknown keys are errors.
func (s *Sim) LoadSeed(r io.Reader) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var seed Seed
	if err := dec.Decode(&seed); err != nil && err != io.EOF {
		return fmt.Errorf("parse: %w", err)
	}
	return s.ApplySeed(seed)
}

// ApplySeed creates everything a Seed describes, through the same code paths as the AWS API,
// so a seeded estate is validated exactly like one built with API calls.
func (s *Sim) ApplySeed(seed Seed) error {
	for _, a := range seed.Accounts {
		if err := s.SetAccount(a); err != nil {
			return fmt.Errorf("account %q: %w", a.ID, err)
		}
	}
	for _, id := range seed.VerifiedEmailIdentities {
		s.VerifyEmailIdentity(id)
	}
	for _, spec := range seed.Images {
		if _, err := s.CreateImage(spec); err != nil {
			return fmt.Errorf("image %q: %w", spec.Name, err)
		}
	}
	for _, sf := range seed.Fleets {
		if err := s.seedFleet(sf); err != nil {
			return fmt.Errorf("fleet %q: %w", sf.Name, err)
		}
	}
	for _, st := range seed.Stacks {
		if err := s.seedStack(st); err != nil {
			return fmt.Errorf("stack %q: %w", st.Name, err)
		}
	}
	for _, ss := range seed.Sessions {
		if _, err := s.StartSession(ss); err != nil {
			return fmt.Errorf("session of %q: %w", ss.UserId, err)
		}
	}
	for _, ws := range seed.Workspaces {
		if err := s.seedWorkspace(ws); err != nil {
			return err
		}
	}
	for _, name := range append(slices.Clone(seed.Queues), seed.EventQueues...) {
		if _, err := s.CreateQueue(name); err != nil {
			return fmt.Errorf("queue %q: %w", name, err)
		}
	}
	for _, name := range seed.EventQueues {
		if err := s.AddEventTarget("/" + s.opts.AccountID + "/" + name); err != nil {
			return fmt.Errorf("event queue %q: %w", name, err)
		}
	}
	return nil
}

func (s *Sim) seedFleet(sf SeedFleet) error {
	if sf.FleetType == "" {
		sf.FleetType = FleetAlwaysOn
	}
	if sf.InstanceType == "" {
		sf.InstanceType = "stream.standard.medium"
	}
	if sf.State == "" {
		sf.State = FleetRunning
	}
	if sf.State != FleetRunning && sf.State != FleetStopped {
		return fmt.Errorf("State must be RUNNING or STOPPED, not %q", sf.State)
	}
	in := map[string]any{"Name": sf.Name, "InstanceType": sf.InstanceType, "FleetType": sf.FleetType}
	if sf.FleetType == FleetElastic {
		in["Platform"] = sf.Platform
		in["MaxConcurrentSessions"] = max(sf.DesiredInstances, 1)
	} else {
		in["ImageName"] = sf.ImageName
		in["ComputeCapacity"] = map[string]int32{"DesiredInstances": sf.DesiredInstances}
		if sf.MaxSessionsPerInstance > 0 {
			in["MaxSessionsPerInstance"] = sf.MaxSessionsPerInstance
		}
		if sf.MaxSessionsPerInstance > 1 {
			in["ComputeCapacity"] = map[string]int32{"DesiredSessions": sf.DesiredSessions}
		}
	}
	if len(sf.Tags) > 0 {
		in["Tags"] = sf.Tags
	}
	if err := s.callJSON((*Sim).createFleet, in); err != nil {
		return err
	}
	if sf.State == FleetRunning {
		s.lock()
		f := s.fleets[sf.Name]
		f.state = FleetRunning
		s.touch(f)
		for range f.desired {
			s.launchReady(f)
		}
		s.mu.Unlock()
	}
	if t := sf.ScalableTarget; t != nil {
		in := map[string]any{
			"ServiceNamespace": appStreamNamespace, "ResourceId": "fleet/" + sf.Name,
			"ScalableDimension": fleetDimension, "MinCapacity": t.MinCapacity, "MaxCapacity": t.MaxCapacity,
		}
		if ss := t.SuspendedState; ss != nil {
			in["SuspendedState"] = map[string]bool{"DynamicScalingInSuspended": ss.DynamicScalingInSuspended,
				"DynamicScalingOutSuspended": ss.DynamicScalingOutSuspended, "ScheduledScalingSuspended": ss.ScheduledScalingSuspended}
		}
		return s.callJSON((*Sim).registerScalableTarget, in)
	}
	return nil
}

func (s *Sim) seedStack(st SeedStack) error {
	if err := s.callJSON((*Sim).createStack, map[string]any{"Name": st.Name}); err != nil {
		return err
	}
	for _, f := range st.Fleets {
		if err := s.callJSON((*Sim).associateFleet, map[string]any{"FleetName": f, "StackName": st.Name}); err != nil {
			return err
		}
	}
	return nil
}

// callJSON runs an API operation in-process with input marshalled as the SDK would send it.
func (s *Sim) callJSON(op jsonOp, in any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	s.lock()
	defer s.mu.Unlock()
	_, err = op(s, body)
	return err
}
