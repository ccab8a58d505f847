package sim

import (
	"slices"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// appStreamOps are the AppStream operations the emulator answers (X-Amz-Target
// PhotonAdminProxyService.<Op>).
var appStreamOps = map[string]jsonOp{
	"CreateFleet":          (*Sim).createFleet,
	"DescribeFleets":       (*Sim).describeFleets,
	"UpdateFleet":          (*Sim).updateFleet,
	"StartFleet":           (*Sim).startFleetOp,
	"StopFleet":            (*Sim).stopFleetOp,
	"DeleteFleet":          (*Sim).deleteFleet,
	"DescribeImages":       (*Sim).describeImages,
	"TagResource":          (*Sim).tagResource,
	"UntagResource":        (*Sim).untagResource,
	"ListTagsForResource":  (*Sim).listTagsForResource,
	"CreateStack":          (*Sim).createStack,
	"DescribeStacks":       (*Sim).describeStacks,
	"AssociateFleet":       (*Sim).associateFleet,
	"DisassociateFleet":    (*Sim).disassociateFleet,
	"ListAssociatedStacks": (*Sim).listAssociatedStacks,
	"DescribeSessions":     (*Sim).describeSessions,
	"ExpireSession":        (*Sim).expireSession,
	"DrainSessionInstance": (*Sim).drainSessionInstance,
}

type computeCapacity struct {
	DesiredInstances *int32
	DesiredSessions  *int32
}

type vpcConfigInput struct {
	SubnetIds        []string
	SecurityGroupIds []string
}

// fleetInput holds the members CreateFleet and UpdateFleet share.
type fleetInput struct {
	Name                           *string
	ImageName                      *string
	ImageArn                       *string
	InstanceType                   *string
	FleetType                      *string
	ComputeCapacity                *computeCapacity
	VpcConfig                      *vpcConfigInput
	MaxUserDurationInSeconds       *int32
	DisconnectTimeoutInSeconds     *int32
	IdleDisconnectTimeoutInSeconds *int32
	Description                    *string
	DisplayName                    *string
	EnableDefaultInternetAccess    *bool
	DomainJoinInfo                 map[string]any
	IamRoleArn                     *string
	StreamView                     *string
	Platform                       *string
	MaxConcurrentSessions          *int32
	UsbDeviceFilterStrings         []string
	SessionScriptS3Location        map[string]any
	MaxSessionsPerInstance         *int32
	RootVolumeConfig               map[string]any
	DisableIMDSV1                  *bool
	AttributesToDelete             []string
	DeleteVpcConfig                *bool
	Tags                           map[string]string
}

func (in *fleetInput) validate(v *validation) {
	v.name(in.Name, "name")
	v.length(in.ImageName, "imageName", 1, 256)
	v.arn(in.ImageArn, "imageArn")
	v.length(in.InstanceType, "instanceType", 1, 256)
	v.enum(in.FleetType, "fleetType", fleetTypes...)
	v.enum(in.Platform, "platform", platforms...)
	v.enum(in.StreamView, "streamView", "APP", "DESKTOP")
	v.length(in.Description, "description", 0, 256)
	v.length(in.DisplayName, "displayName", 0, 100)
	v.arn(in.IamRoleArn, "iamRoleArn")
	v.intRange(in.MaxUserDurationInSeconds, "maxUserDurationInSeconds", 600, 432000)
	v.intRange(in.DisconnectTimeoutInSeconds, "disconnectTimeoutInSeconds", 60, 36000)
	if t := in.IdleDisconnectTimeoutInSeconds; t != nil && *t != 0 {
		v.intRange(t, "idleDisconnectTimeoutInSeconds", 60, 36000)
	}
	if cc := in.ComputeCapacity; cc != nil {
		v.intRange(cc.DesiredInstances, "computeCapacity.desiredInstances", 0, 1<<31-1)
		v.intRange(cc.DesiredSessions, "computeCapacity.desiredSessions", 0, 1<<31-1)
	}
	v.intRange(in.MaxSessionsPerInstance, "maxSessionsPerInstance", 1, 1<<31-1)
	if in.VpcConfig != nil {
		v.listLen(len(in.VpcConfig.SecurityGroupIds), "vpcConfig.securityGroupIds", 0, 5)
	}
	v.appStreamTags(in.Tags, "tags", 0)
}

// checkQuota refuses a desired capacity above the account's streaming-instance quota, as
// AppStream does with LimitExceededException. perInstance is the fleet's MaxSessionsPerInstance
// (0 or 1 for a single-session fleet): DesiredSessions needs ⌈DesiredSessions/perInstance⌉
// instances.
func checkQuota(in *fleetInput, perInstance int32) error {
	cc := in.ComputeCapacity
	if cc == nil {
		return nil
	}
	var want int64
	if cc.DesiredInstances != nil {
		want = int64(*cc.DesiredInstances)
	}
	if cc.DesiredSessions != nil {
		want = max(want, instancesFor(*cc.DesiredSessions, perInstance))
	}
	if want > MaxFleetInstances {
		return wire.Errorf("LimitExceededException", "The requested capacity of %d instances exceeds your account's quota of %d streaming instances for this instance type.", want, MaxFleetInstances)
	}
	return nil
}

func (s *Sim) createFleet(body []byte) (any, error) {
	var in fleetInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.Name != nil, "name")
	v.required(in.InstanceType != nil, "instanceType")
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkQuota(&in, deref32(in.MaxSessionsPerInstance)); err != nil {
		return nil, err
	}
	name := *in.Name
	if _, ok := s.fleets[name]; ok {
		return nil, wire.Errorf("ResourceAlreadyExistsException", "Fleet %s already exists.", name)
	}
	fleetType := FleetOnDemand
	if in.FleetType != nil {
		fleetType = *in.FleetType
	}
	f := &fleet{
		name: name, arn: s.arn("fleet", name), instanceType: *in.InstanceType, fleetType: fleetType,
		state: FleetStopped, streamView: "APP", maxUserDuration: 57600, disconnectTimeout: 900,
		enableDefaultInternetAccess: in.EnableDefaultInternetAccess != nil && *in.EnableDefaultInternetAccess,
		created:                     s.now, tags: map[string]string{}, stacks: map[string]bool{},
		displayName: deref(in.DisplayName), description: deref(in.Description), iamRoleArn: deref(in.IamRoleArn),
	}
	if fleetType == FleetElastic {
		switch {
		case in.ImageName != nil || in.ImageArn != nil:
			return nil, wire.Errorf("InvalidParameterCombinationException", "Elastic fleets stream from app blocks; ImageName and ImageArn are not supported.")
		case in.ComputeCapacity != nil:
			return nil, wire.Errorf("InvalidParameterCombinationException", "ComputeCapacity is not supported for Elastic fleets.")
		case in.Platform == nil || in.MaxConcurrentSessions == nil:
			return nil, wire.Errorf("InvalidParameterCombinationException", "Platform and MaxConcurrentSessions are required for Elastic fleets.")
		case in.MaxSessionsPerInstance != nil:
			return nil, wire.Errorf("InvalidParameterCombinationException", "MaxSessionsPerInstance is not supported for Elastic fleets.")
		}
		f.platform, f.maxConcurrent = *in.Platform, *in.MaxConcurrentSessions
	} else {
		if in.ImageName == nil && in.ImageArn == nil {
			return nil, wire.Errorf("InvalidParameterCombinationException", "Either ImageName or ImageArn is required.")
		}
		img, err := s.imageForFleet(in.ImageName, in.ImageArn)
		if err != nil {
			return nil, err
		}
		f.maxSessions = deref32(in.MaxSessionsPerInstance)
		cc := in.ComputeCapacity
		if cc == nil || (cc.DesiredInstances == nil && cc.DesiredSessions == nil) {
			if f.multiSession() {
				return nil, wire.Errorf("InvalidParameterCombinationException", "ComputeCapacity.DesiredSessions is required for multi-session fleets.")
			}
			return nil, wire.Errorf("InvalidParameterCombinationException", "ComputeCapacity.DesiredInstances is required for %s fleets.", fleetType)
		}
		if err := checkCapacityKind(cc, f.multiSession()); err != nil {
			return nil, err
		}
		f.imageName, f.imageArn, f.platform = img.name, img.arn, img.platform
		if f.multiSession() {
			f.desiredSessions = *cc.DesiredSessions
			f.desired = int32(instancesFor(f.desiredSessions, f.maxSessions))
		} else {
			f.desired = *cc.DesiredInstances
		}
	}
	s.applyOptionalFleetMembers(f, &in)
	for k, val := range in.Tags {
		f.tags[k] = val
	}
	s.fleets[name] = f
	return map[string]any{"Fleet": s.wireFleet(f)}, nil
}

// imageForFleet resolves the image a fleet is given and checks it can be used.
func (s *Sim) imageForFleet(name, arn *string) (*image, error) {
	if name != nil && arn != nil {
		return nil, wire.Errorf("InvalidParameterCombinationException", "ImageName and ImageArn cannot both be specified.")
	}
	img := s.findImage(deref(name), deref(arn))
	if img == nil {
		return nil, wire.Errorf("ResourceNotFoundException", "The image %s does not exist.", deref(name)+deref(arn))
	}
	if img.state != ImageAvailable {
		return nil, wire.Errorf("ResourceNotAvailableException", "The image %s is in state %s; only AVAILABLE images can be used.", img.name, img.state)
	}
	return img, nil
}

func (s *Sim) applyOptionalFleetMembers(f *fleet, in *fleetInput) {
	if in.MaxUserDurationInSeconds != nil {
		f.maxUserDuration = *in.MaxUserDurationInSeconds
	}
	if in.DisconnectTimeoutInSeconds != nil {
		f.disconnectTimeout = *in.DisconnectTimeoutInSeconds
	}
	if in.IdleDisconnectTimeoutInSeconds != nil {
		// AppStream rounds idle timeouts to whole minutes.
		f.idleDisconnectTimeout = *in.IdleDisconnectTimeoutInSeconds / 60 * 60
	}
	if in.StreamView != nil {
		f.streamView = *in.StreamView
	}
	if in.VpcConfig != nil {
		f.vpcSubnets, f.vpcSecurityGroups = in.VpcConfig.SubnetIds, in.VpcConfig.SecurityGroupIds
	}
}

func (s *Sim) describeFleets(body []byte) (any, error) {
	var in struct {
		Names     []string
		NextToken *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	for i := range in.Names {
		v.length(&in.Names[i], "names", 1, 1<<20)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	names := in.Names
	if len(names) == 0 {
		names = sortedKeys(s.fleets)
	}
	for _, n := range names {
		if _, ok := s.fleets[n]; !ok {
			return nil, wire.Errorf("ResourceNotFoundException", "The fleet %s does not exist.", n)
		}
	}
	pageNames, next, err := page(names, in.NextToken, s.opts.PageSize, "DescribeFleets")
	if err != nil {
		return nil, err
	}
	out := make([]wireFleet, 0, len(pageNames))
	for _, n := range pageNames {
		out = append(out, s.wireFleet(s.fleets[n]))
	}
	return paged("Fleets", out, next), nil
}

// updateFleet follows the model's rules for which attributes may change in which state.
func (s *Sim) updateFleet(body []byte) (any, error) {
	var in fleetInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.Name != nil, "name")
	in.validate(&v)
	if in.Tags != nil {
		v.add("{…}", "tags", "UpdateFleet has no member Tags")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	f, ok := s.fleets[*in.Name]
	if !ok {
		return nil, wire.Errorf("ResourceNotFoundException", "The fleet %s does not exist.", *in.Name)
	}
	if f.state == FleetStarting || f.state == FleetStopping {
		return nil, wire.Errorf("ConcurrentModificationException", "Fleet %s is %s. Wait until it is RUNNING or STOPPED and try again.", f.name, f.state)
	}
	if f.state == FleetRunning {
		if attr := runningForbidden(f, &in); attr != "" {
			return nil, wire.Errorf("OperationNotPermittedException", "The %s attribute of fleet %s cannot be changed while it is RUNNING. Stop the fleet first.", attr, f.name)
		}
	}
	if f.fleetType == FleetElastic && (in.ImageName != nil || in.ImageArn != nil || in.ComputeCapacity != nil) {
		return nil, wire.Errorf("InvalidParameterCombinationException", "Elastic fleets have no image and no compute capacity.")
	}
	perInstance, err := newMaxSessions(f, &in)
	if err != nil {
		return nil, err
	}
	if err := checkQuota(&in, perInstance); err != nil {
		return nil, err
	}
	if cc := in.ComputeCapacity; cc != nil {
		if err := checkCapacityKind(cc, perInstance > 1); err != nil {
			return nil, err
		}
	}
	var img *image
	if in.ImageName != nil || in.ImageArn != nil {
		var err error
		if img, err = s.imageForFleet(in.ImageName, in.ImageArn); err != nil {
			return nil, err
		}
		if f.state == FleetRunning && img.platform != f.platform {
			return nil, wire.Errorf("IncompatibleImageException", "The image %s (%s) runs a different operating system from fleet %s (%s). Stop the fleet to change its operating system.", img.name, img.platform, f.name, f.platform)
		}
	}
	// All checks passed: apply.
	if in.DisplayName != nil {
		f.displayName = *in.DisplayName
	}
	if in.Description != nil {
		f.description = *in.Description
	}
	if in.InstanceType != nil {
		f.instanceType = *in.InstanceType
	}
	if in.IamRoleArn != nil {
		f.iamRoleArn = *in.IamRoleArn
	}
	if in.EnableDefaultInternetAccess != nil {
		f.enableDefaultInternetAccess = *in.EnableDefaultInternetAccess
	}
	if in.MaxConcurrentSessions != nil {
		f.maxConcurrent = *in.MaxConcurrentSessions
	}
	s.applyOptionalFleetMembers(f, &in)
	for _, attr := range in.AttributesToDelete {
		switch attr {
		case "VPC_CONFIGURATION":
			f.vpcSubnets, f.vpcSecurityGroups = nil, nil
		case "VPC_CONFIGURATION_SECURITY_GROUP_IDS":
			f.vpcSecurityGroups = nil
		case "IAM_ROLE_ARN":
			f.iamRoleArn = ""
		}
	}
	if img != nil {
		s.setFleetImage(f, img)
	}
	s.setMaxSessions(f, perInstance)
	if cc := in.ComputeCapacity; cc != nil {
		switch {
		case f.multiSession() && cc.DesiredSessions != nil:
			s.setScalingCapacity(f, *cc.DesiredSessions)
		case !f.multiSession() && cc.DesiredInstances != nil:
			s.setDesired(f, *cc.DesiredInstances)
		}
	}
	return map[string]any{"Fleet": s.wireFleet(f)}, nil
}

// runningForbidden names the first attribute in the request that may not change on a RUNNING
// fleet, or returns "".
func runningForbidden(f *fleet, in *fleetInput) string {
	if f.fleetType == FleetElastic {
		switch {
		case in.InstanceType != nil:
			return "InstanceType"
		case in.VpcConfig != nil:
			return "VpcConfig"
		case in.Description != nil:
			return "Description"
		}
		return ""
	}
	checks := []struct {
		set  bool
		name string
	}{
		{in.InstanceType != nil, "InstanceType"},
		{in.VpcConfig != nil, "VpcConfig"},
		{in.MaxUserDurationInSeconds != nil, "MaxUserDurationInSeconds"},
		{in.Description != nil, "Description"},
		{in.EnableDefaultInternetAccess != nil, "EnableDefaultInternetAccess"},
		{in.DomainJoinInfo != nil, "DomainJoinInfo"},
		{in.IamRoleArn != nil, "IamRoleArn"},
		{in.StreamView != nil, "StreamView"},
		{in.Platform != nil, "Platform"},
		{in.MaxConcurrentSessions != nil, "MaxConcurrentSessions"},
		{in.UsbDeviceFilterStrings != nil, "UsbDeviceFilterStrings"},
		{in.SessionScriptS3Location != nil, "SessionScriptS3Location"},
		{in.MaxSessionsPerInstance != nil, "MaxSessionsPerInstance"},
		{in.RootVolumeConfig != nil, "RootVolumeConfig"},
		{in.DisableIMDSV1 != nil, "DisableIMDSV1"},
		{len(in.AttributesToDelete) > 0, "AttributesToDelete"},
	}
	for _, c := range checks {
		if c.set {
			return c.name
		}
	}
	return ""
}

// MaxFleetInstances is the emulated account's quota of streaming instances per fleet.
const MaxFleetInstances = 1000

// setDesired changes a fleet's desired capacity and lets the fleet converge on it. Capacity
// that Application Auto Scaling asks for beyond the quota is not provisioned, as in AWS.
func (s *Sim) setDesired(f *fleet, desired int32) {
	f.desired = min(desired, MaxFleetInstances)
	s.reconcile(f)
}

func (s *Sim) fleetByName(body []byte) (*fleet, error) {
	var in struct{ Name *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.Name != nil, "name")
	v.length(in.Name, "name", 1, 1<<20)
	if err := v.err(); err != nil {
		return nil, err
	}
	f, ok := s.fleets[*in.Name]
	if !ok {
		return nil, wire.Errorf("ResourceNotFoundException", "The fleet %s does not exist.", *in.Name)
	}
	return f, nil
}

// startFleetOp starts a STOPPED fleet. Starting a fleet that is already starting or running
// changes nothing (AWS does not document that case; idempotence is the safe reading).
func (s *Sim) startFleetOp(body []byte) (any, error) {
	f, err := s.fleetByName(body)
	if err != nil {
		return nil, err
	}
	switch f.state {
	case FleetStopping:
		return nil, wire.Errorf("ConcurrentModificationException", "Fleet %s is STOPPING. Wait until it is STOPPED and try again.", f.name)
	case FleetStopped:
		if f.fleetType != FleetElastic {
			img := s.findImage("", f.imageArn)
			if img == nil || img.state != ImageAvailable {
				f.errors = []string{"IMAGE_NOT_FOUND"}
				return nil, wire.Errorf("ResourceNotAvailableException", "The image of fleet %s is not available.", f.name)
			}
		}
		s.startFleet(f)
	}
	return struct{}{}, nil
}

func (s *Sim) stopFleetOp(body []byte) (any, error) {
	f, err := s.fleetByName(body)
	if err != nil {
		return nil, err
	}
	switch f.state {
	case FleetStarting, FleetRunning:
		s.stopFleet(f)
	}
	return struct{}{}, nil
}

func (s *Sim) deleteFleet(body []byte) (any, error) {
	f, err := s.fleetByName(body)
	if err != nil {
		return nil, err
	}
	if f.state != FleetStopped {
		return nil, wire.Errorf("ResourceInUseException", "Fleet %s is %s. Stop it before deleting it.", f.name, f.state)
	}
	if len(f.stacks) > 0 {
		return nil, wire.Errorf("ResourceInUseException", "Fleet %s is associated with a stack. Disassociate it first.", f.name)
	}
	delete(s.fleets, f.name)
	return struct{}{}, nil
}

func (s *Sim) describeImages(body []byte) (any, error) {
	var in struct {
		Names      []string
		Arns       []string
		Type       *string
		NextToken  *string
		MaxResults *int32
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.enum(in.Type, "type", "PUBLIC", "PRIVATE", "SHARED")
	v.intRange(in.MaxResults, "maxResults", 0, 25)
	for i := range in.Arns {
		v.arn(&in.Arns[i], "arns")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if len(in.Names) > 0 && len(in.Arns) > 0 {
		return nil, wire.Errorf("InvalidParameterCombinationException", "Names and Arns cannot both be specified.")
	}
	var selected []*image
	switch {
	case len(in.Names) > 0:
		for _, n := range in.Names {
			img, ok := s.images[n]
			if !ok {
				return nil, wire.Errorf("ResourceNotFoundException", "The image %s does not exist.", n)
			}
			selected = append(selected, img)
		}
	case len(in.Arns) > 0:
		for _, a := range in.Arns {
			img := s.findImage("", a)
			if img == nil {
				return nil, wire.Errorf("ResourceNotFoundException", "The image %s does not exist.", a)
			}
			selected = append(selected, img)
		}
	default:
		for _, n := range sortedKeys(s.images) {
			selected = append(selected, s.images[n])
		}
	}
	if in.Type != nil {
		selected = slices.DeleteFunc(selected, func(img *image) bool { return img.visibility != *in.Type })
	}
	size := 25
	if in.MaxResults != nil && *in.MaxResults > 0 {
		size = int(*in.MaxResults)
	}
	size = min(size, s.opts.PageSize)
	images, next, err := page(selected, in.NextToken, size, "DescribeImages")
	if err != nil {
		return nil, err
	}
	out := make([]wireImage, 0, len(images))
	for _, img := range images {
		out = append(out, wireImageOf(img))
	}
	return paged("Images", out, next), nil
}

func (s *Sim) tagResource(body []byte) (any, error) {
	var in struct {
		ResourceArn *string
		Tags        map[string]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.ResourceArn != nil, "resourceArn")
	v.required(in.Tags != nil, "tags")
	v.arn(in.ResourceArn, "resourceArn")
	v.appStreamTags(in.Tags, "tags", 1)
	if err := v.err(); err != nil {
		return nil, err
	}
	tags, err := s.taggable(*in.ResourceArn)
	if err != nil {
		return nil, err
	}
	merged := len(*tags)
	for k := range in.Tags {
		if _, ok := (*tags)[k]; !ok {
			merged++
		}
	}
	if merged > 50 {
		return nil, wire.Errorf("LimitExceededException", "The resource %s would have %d tags; a resource can have at most 50.", *in.ResourceArn, merged)
	}
	if *tags == nil {
		*tags = map[string]string{}
	}
	for k, val := range in.Tags {
		(*tags)[k] = val
	}
	return struct{}{}, nil
}

func (s *Sim) untagResource(body []byte) (any, error) {
	var in struct {
		ResourceArn *string
		TagKeys     []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.ResourceArn != nil, "resourceArn")
	v.required(in.TagKeys != nil, "tagKeys")
	v.arn(in.ResourceArn, "resourceArn")
	if in.TagKeys != nil {
		v.listLen(len(in.TagKeys), "tagKeys", 1, 50)
	}
	for _, k := range in.TagKeys {
		if p := tagKeyProblem(k); p != "" {
			v.add(k, "tagKeys", p)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	tags, err := s.taggable(*in.ResourceArn)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		delete(*tags, k)
	}
	return struct{}{}, nil
}

func (s *Sim) listTagsForResource(body []byte) (any, error) {
	var in struct{ ResourceArn *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.ResourceArn != nil, "resourceArn")
	v.arn(in.ResourceArn, "resourceArn")
	if err := v.err(); err != nil {
		return nil, err
	}
	tags, err := s.taggable(*in.ResourceArn)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(*tags))
	for k, val := range *tags {
		out[k] = val
	}
	return map[string]any{"Tags": out}, nil
}

func (s *Sim) createStack(body []byte) (any, error) {
	var in struct {
		Name, DisplayName, Description *string
		Tags                           map[string]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.Name != nil, "name")
	v.name(in.Name, "name")
	v.length(in.DisplayName, "displayName", 0, 100)
	v.length(in.Description, "description", 0, 256)
	v.appStreamTags(in.Tags, "tags", 0)
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, ok := s.stacks[*in.Name]; ok {
		return nil, wire.Errorf("ResourceAlreadyExistsException", "Stack %s already exists.", *in.Name)
	}
	st := &stack{
		name: *in.Name, arn: s.arn("stack", *in.Name), displayName: deref(in.DisplayName),
		description: deref(in.Description), created: s.now, tags: map[string]string{}, fleets: map[string]bool{},
	}
	for k, val := range in.Tags {
		st.tags[k] = val
	}
	s.stacks[st.name] = st
	return map[string]any{"Stack": wireStackOf(st)}, nil
}

func wireStackOf(st *stack) wireStack {
	return wireStack{Arn: st.arn, Name: st.name, DisplayName: st.displayName, Description: st.description, CreatedTime: wire.TimePtr(st.created)}
}

func (s *Sim) describeStacks(body []byte) (any, error) {
	var in struct {
		Names     []string
		NextToken *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	names := in.Names
	if len(names) == 0 {
		names = sortedKeys(s.stacks)
	}
	for _, n := range names {
		if _, ok := s.stacks[n]; !ok {
			return nil, wire.Errorf("ResourceNotFoundException", "The stack %s does not exist.", n)
		}
	}
	pageNames, next, err := page(names, in.NextToken, s.opts.PageSize, "DescribeStacks")
	if err != nil {
		return nil, err
	}
	out := make([]wireStack, 0, len(pageNames))
	for _, n := range pageNames {
		out = append(out, wireStackOf(s.stacks[n]))
	}
	return paged("Stacks", out, next), nil
}

func (s *Sim) fleetAndStack(body []byte) (*fleet, *stack, error) {
	var in struct{ FleetName, StackName *string }
	if err := decode(body, &in); err != nil {
		return nil, nil, err
	}
	var v validation
	v.required(in.FleetName != nil, "fleetName")
	v.required(in.StackName != nil, "stackName")
	v.name(in.FleetName, "fleetName")
	v.name(in.StackName, "stackName")
	if err := v.err(); err != nil {
		return nil, nil, err
	}
	f, ok := s.fleets[*in.FleetName]
	if !ok {
		return nil, nil, wire.Errorf("ResourceNotFoundException", "The fleet %s does not exist.", *in.FleetName)
	}
	st, ok := s.stacks[*in.StackName]
	if !ok {
		return nil, nil, wire.Errorf("ResourceNotFoundException", "The stack %s does not exist.", *in.StackName)
	}
	return f, st, nil
}

// associateFleet links a fleet to a stack. A stack streams from one fleet at a time.
func (s *Sim) associateFleet(body []byte) (any, error) {
	f, st, err := s.fleetAndStack(body)
	if err != nil {
		return nil, err
	}
	if len(st.fleets) > 0 && !st.fleets[f.name] {
		return nil, wire.Errorf("InvalidParameterCombinationException", "Stack %s is already associated with a fleet.", st.name)
	}
	st.fleets[f.name] = true
	f.stacks[st.name] = true
	return struct{}{}, nil
}

// listAssociatedStacks names the stacks a fleet is associated with. The model declares no
// error: an unknown fleet has none.
func (s *Sim) listAssociatedStacks(body []byte) (any, error) {
	var in struct {
		FleetName *string
		NextToken *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.FleetName != nil, "fleetName")
	v.length(in.FleetName, "fleetName", 1, 1<<20)
	if err := v.err(); err != nil {
		return nil, err
	}
	var names []string
	if f, ok := s.fleets[*in.FleetName]; ok {
		names = sortedKeys(f.stacks)
	}
	pageNames, next, err := page(names, in.NextToken, s.opts.PageSize, "ListAssociatedStacks")
	if err != nil {
		return nil, err
	}
	return paged("Names", append([]string{}, pageNames...), next), nil
}

func (s *Sim) disassociateFleet(body []byte) (any, error) {
	f, st, err := s.fleetAndStack(body)
	if err != nil {
		return nil, err
	}
	for _, ss := range s.sessions {
		if ss.fleetName == f.name && ss.stackName == st.name {
			return nil, wire.Errorf("ResourceInUseException", "Fleet %s has active sessions for stack %s.", f.name, st.name)
		}
	}
	if !st.fleets[f.name] {
		return nil, wire.Errorf("ResourceNotFoundException", "Fleet %s is not associated with stack %s.", f.name, st.name)
	}
	delete(st.fleets, f.name)
	delete(f.stacks, st.name)
	return struct{}{}, nil
}

func (s *Sim) describeSessions(body []byte) (any, error) {
	var in struct {
		StackName, FleetName, UserId, NextToken, AuthenticationType, InstanceId *string
		Limit                                                                   *int32
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.StackName != nil, "stackName")
	v.required(in.FleetName != nil, "fleetName")
	v.name(in.StackName, "stackName")
	v.name(in.FleetName, "fleetName")
	v.length(in.UserId, "userId", 2, 128)
	v.enum(in.AuthenticationType, "authenticationType", "API", "SAML", "USERPOOL", "AWS_AD")
	v.intRange(in.Limit, "limit", 0, 50)
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.UserId != nil && in.AuthenticationType == nil {
		return nil, wire.Errorf("InvalidParameterCombinationException", "UserId requires AuthenticationType.")
	}
	auth := "API"
	if in.AuthenticationType != nil {
		auth = *in.AuthenticationType
	}
	var matched []*session
	for _, id := range sortedKeys(s.sessions) {
		ss := s.sessions[id]
		if ss.fleetName != *in.FleetName || ss.stackName != *in.StackName || ss.authType != auth {
			continue
		}
		if in.UserId != nil && ss.userID != *in.UserId {
			continue
		}
		if in.InstanceId != nil && (ss.instance == nil || ss.instance.id != *in.InstanceId) {
			continue
		}
		matched = append(matched, ss)
	}
	size := 20
	if in.Limit != nil && *in.Limit > 0 {
		size = int(*in.Limit)
	}
	sessions, next, err := page(matched, in.NextToken, size, "DescribeSessions")
	if err != nil {
		return nil, err
	}
	out := make([]wireSession, 0, len(sessions))
	for _, ss := range sessions {
		out = append(out, wireSessionOf(ss, s.fleets[ss.fleetName]))
	}
	return paged("Sessions", out, next), nil
}

// expireSession ends a session. AppStream declares no error for it; an unknown id changes nothing.
func (s *Sim) expireSession(body []byte) (any, error) {
	id, err := sessionIDOf(body)
	if err != nil {
		return nil, err
	}
	if ss, ok := s.sessions[id]; ok {
		s.endSession(ss)
	}
	return struct{}{}, nil
}

// startSession places a user on an instance of a running fleet with a free slot (control API
// only: real sessions come from users streaming). See placeSession for which instance.
func (s *Sim) startSession(fleetName, stackName, userID, authType string) (*session, error) {
	f, ok := s.fleets[fleetName]
	if !ok {
		return nil, notFoundf("fleet %s does not exist", fleetName)
	}
	st, ok := s.stacks[stackName]
	if !ok {
		return nil, notFoundf("stack %s does not exist", stackName)
	}
	if !st.fleets[f.name] {
		return nil, conflictf("stack %s is not associated with fleet %s", stackName, fleetName)
	}
	if f.state != FleetRunning {
		return nil, conflictf("fleet %s is %s; sessions start only on RUNNING fleets", fleetName, f.state)
	}
	chosen := s.placeSession(f)
	if chosen == nil {
		running, inUse, available := f.capacity()
		if f.multiSession() {
			c := f.sessionCapacity()
			return nil, conflictf("no free session slot in fleet %s (Desired %d, Running %d, InUse %d, Available %d; AvailableUserSessions %d, ActiveUserSessions %d, Draining %d)",
				fleetName, f.desired, running, inUse, available, c.available, c.active, c.draining)
		}
		return nil, conflictf("no available instance in fleet %s (Desired %d, Running %d, InUse %d, Available %d)", fleetName, f.desired, running, inUse, available)
	}
	if authType == "" {
		authType = "API"
	}
	lifetime := s.scale(time.Duration(f.maxUserDuration) * time.Second)
	ss := &session{
		id: newUUID(s), userID: userID, stackName: stackName, fleetName: fleetName, authType: authType,
		instance: chosen, start: s.now, maxExpiration: s.now.Add(lifetime),
	}
	chosen.sessions = append(chosen.sessions, ss)
	s.touch(f)
	s.sessions[ss.id] = ss
	s.after(lifetime, func() {
		if s.sessions[ss.id] == ss {
			s.endSession(ss)
		}
	})
	return ss, nil
}

// sessionIDOf reads the SessionId of ExpireSession and DrainSessionInstance.
func sessionIDOf(body []byte) (string, error) {
	var in struct{ SessionId *string }
	if err := decode(body, &in); err != nil {
		return "", err
	}
	var v validation
	v.required(in.SessionId != nil, "sessionId")
	v.length(in.SessionId, "sessionId", 1, 1<<20)
	if err := v.err(); err != nil {
		return "", err
	}
	return *in.SessionId, nil
}
