package sim

import (
	"slices"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// Multi-session fleets: a fleet with MaxSessionsPerInstance above 1 hosts up to that many
// sessions on each instance. Its capacity is set in sessions (ComputeCapacity.DesiredSessions,
// and Application Auto Scaling's appstream:fleet:DesiredCapacity) and the fleet runs
// ⌈DesiredSessions / MaxSessionsPerInstance⌉ instances.

func deref32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// checkCapacityKind checks that a ComputeCapacity names the member that fits the fleet:
// DesiredSessions for a multi-session fleet, DesiredInstances otherwise, never both.
func checkCapacityKind(cc *computeCapacity, multi bool) error {
	switch {
	case cc.DesiredInstances != nil && cc.DesiredSessions != nil:
		return wire.Errorf("InvalidParameterCombinationException", "ComputeCapacity.DesiredInstances and ComputeCapacity.DesiredSessions cannot both be specified.")
	case multi && cc.DesiredInstances != nil:
		return wire.Errorf("InvalidParameterCombinationException", "ComputeCapacity.DesiredInstances is not allowed for multi-session fleets; use ComputeCapacity.DesiredSessions.")
	case !multi && cc.DesiredSessions != nil:
		return wire.Errorf("InvalidParameterCombinationException", "ComputeCapacity.DesiredSessions is not allowed for single-session fleets; use ComputeCapacity.DesiredInstances.")
	}
	return nil
}

// newMaxSessions is the MaxSessionsPerInstance an UpdateFleet leaves the fleet with. Changing it
// (or deleting it with AttributesToDelete MAX_SESSIONS_PER_INSTANCE) needs a STOPPED fleet,
// which runningForbidden has already checked.
func newMaxSessions(f *fleet, in *fleetInput) (int32, error) {
	perInstance := f.maxSessions
	deleting := slices.Contains(in.AttributesToDelete, "MAX_SESSIONS_PER_INSTANCE")
	switch {
	case in.MaxSessionsPerInstance != nil && deleting:
		return 0, wire.Errorf("InvalidParameterCombinationException", "MaxSessionsPerInstance cannot be set and deleted in the same request.")
	case in.MaxSessionsPerInstance != nil && f.fleetType == FleetElastic:
		return 0, wire.Errorf("InvalidParameterCombinationException", "MaxSessionsPerInstance is not supported for Elastic fleets.")
	case in.MaxSessionsPerInstance != nil:
		perInstance = *in.MaxSessionsPerInstance
	case deleting:
		perInstance = 0
	}
	return perInstance, nil
}

// setMaxSessions changes a (stopped) fleet between single- and multi-session, or its sessions
// per instance, keeping its capacity: a fleet turning multi-session wants as many sessions as
// its instances can hold, one turning single-session keeps its instance count, and a
// multi-session fleet keeps its desired sessions (on a new number of instances).
func (s *Sim) setMaxSessions(f *fleet, perInstance int32) {
	if perInstance == f.maxSessions {
		return
	}
	wasMulti := f.multiSession()
	f.maxSessions = perInstance
	switch {
	case f.multiSession() && !wasMulti:
		f.desiredSessions = sat32(int64(f.desired) * int64(perInstance))
	case !f.multiSession():
		f.desiredSessions = 0
		return
	}
	f.desired = int32(min(instancesFor(f.desiredSessions, perInstance), MaxFleetInstances))
}

// setScalingCapacity sets the capacity Application Auto Scaling and UpdateFleet's
// ComputeCapacity speak of: instances on a single-session fleet, sessions on a multi-session
// one. Instances beyond the quota are not provisioned.
func (s *Sim) setScalingCapacity(f *fleet, units int32) {
	if !f.multiSession() {
		s.setDesired(f, units)
		return
	}
	f.desiredSessions = units
	s.setDesired(f, int32(min(instancesFor(units, f.maxSessions), MaxFleetInstances)))
}

// placeSession picks the instance a new session lands on, or nil when no slot is free: a
// RUNNING instance not in drain mode with fewer sessions than the fleet allows per instance
// (one on a single-session fleet). Instances on the fleet's current image come first; among
// those, as AppStream packs multi-session fleets, the fullest; then the oldest. An instance on
// an older image still takes sessions when no current one can: that is why drains exist.
func (s *Sim) placeSession(f *fleet) *instance {
	perInstance := max(f.maxSessions, 1)
	if !f.multiSession() {
		perInstance = 1
	}
	var chosen *instance
	for _, in := range f.instances {
		if in.state != InstanceRunning || in.draining || int32(len(in.sessions)) >= perInstance {
			continue
		}
		if chosen == nil {
			chosen = in
			continue
		}
		current, chosenCurrent := in.imageArn == f.imageArn, chosen.imageArn == f.imageArn
		switch {
		case current != chosenCurrent:
			if current {
				chosen = in
			}
		case len(in.sessions) > len(chosen.sessions):
			chosen = in
		}
	}
	return chosen
}

// drainSessionInstance puts the instance hosting a session in drain mode: it takes no new
// session, its sessions go on, and once the last one ends it is terminated and replaced from
// the fleet's current image. Multi-session fleets only.
func (s *Sim) drainSessionInstance(body []byte) (any, error) {
	id, err := sessionIDOf(body)
	if err != nil {
		return nil, err
	}
	ss, ok := s.sessions[id]
	if !ok || ss.instance == nil {
		return nil, wire.Errorf("ResourceNotFoundException", "The session %s does not exist.", id)
	}
	f := s.fleets[ss.fleetName]
	if f == nil {
		return nil, wire.Errorf("ResourceNotFoundException", "The session %s does not exist.", id)
	}
	if !f.multiSession() {
		return nil, wire.Errorf("OperationNotPermittedException", "DrainSessionInstance applies only to multi-session fleets; fleet %s is single-session.", f.name)
	}
	// Draining an instance already in drain mode changes nothing.
	if !ss.instance.draining {
		ss.instance.draining = true
		s.touch(f)
	}
	return struct{}{}, nil
}
