package sim

import (
	"encoding/json"
	"strings"
)

// Resource kinds a request can name. An empty kind is "any": a bare name in a Fault, or an id
// whose kind the request does not say (a WorkSpaces tag ResourceId).
const (
	kindFleet     = "fleet"
	kindStack     = "stack"
	kindImage     = "image"
	kindWorkspace = "workspace"
)

// resourceRef is one resource a request names, or the resource a Fault is scoped to.
type resourceRef struct {
	kind, name string
}

// in reports whether the fault's resource r is among the resources a request names. Names must
// be equal; kinds must be equal unless either side leaves its kind open.
func (r resourceRef) in(named []resourceRef) bool {
	for _, n := range named {
		if n.name == r.name && (r.kind == "" || n.kind == "" || r.kind == n.kind) {
			return true
		}
	}
	return false
}

// parseResource reads a Fault's Resource: an AppStream ARN (arn:aws:appstream:…:KIND/NAME),
// an Application Auto Scaling ResourceId (fleet/NAME), or a bare name or id of any kind.
func parseResource(v string) resourceRef {
	if ref, ok := appStreamARN(v); ok {
		return ref
	}
	if name, ok := strings.CutPrefix(v, "fleet/"); ok && name != "" {
		return resourceRef{kindFleet, name}
	}
	return resourceRef{"", v}
}

// appStreamARN splits arn:aws:appstream:REGION:ACCOUNT:KIND/NAME.
func appStreamARN(v string) (resourceRef, bool) {
	parts := strings.SplitN(v, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "appstream" {
		return resourceRef{}, false
	}
	kind, name, ok := strings.Cut(parts[5], "/")
	if !ok || name == "" {
		return resourceRef{}, false
	}
	return resourceRef{kind, name}, true
}

// appStreamNameKind is the kind of resource the Name and Names members of an AppStream
// operation name. Operations not listed leave the kind open.
var appStreamNameKind = map[string]string{
	"CreateFleet":    kindFleet,
	"DescribeFleets": kindFleet,
	"UpdateFleet":    kindFleet,
	"StartFleet":     kindFleet,
	"StopFleet":      kindFleet,
	"DeleteFleet":    kindFleet,
	"CreateStack":    kindStack,
	"DescribeStacks": kindStack,
	"DescribeImages": kindImage,
}

// requestResources lists the resources a JSON 1.1 request names, for Resource-scoped faults.
// A body that is not a JSON object names nothing (the operation will reject it anyway).
//
//   - AppStream: Name and Names (a fleet, stack or image, by operation), FleetName, StackName,
//     ResourceArn and Arns (the kind the ARN says).
//   - Application Auto Scaling: ResourceId and ResourceIds (fleet/NAME is the fleet NAME).
//   - WorkSpaces: WorkspaceId, WorkspaceIds, the WorkspaceId of every item of a
//     …WorkspaceRequests list, and ResourceId (a WorkSpace, directory or bundle id).
func requestResources(service, op string, body []byte) []resourceRef {
	var in map[string]json.RawMessage
	if len(body) == 0 || json.Unmarshal(body, &in) != nil {
		return nil
	}
	var out []resourceRef
	str := func(key string) []string {
		raw, ok := in[key]
		if !ok {
			return nil
		}
		var one string
		if json.Unmarshal(raw, &one) == nil {
			return []string{one}
		}
		var many []string
		if json.Unmarshal(raw, &many) == nil {
			return many
		}
		return nil
	}
	add := func(kind string, keys ...string) {
		for _, key := range keys {
			for _, v := range str(key) {
				out = append(out, resourceRef{kind, v})
			}
		}
	}
	switch service {
	case ServiceAppStream:
		add(appStreamNameKind[op], "Name", "Names")
		add(kindFleet, "FleetName")
		add(kindStack, "StackName")
		for _, key := range []string{"ResourceArn", "Arns"} {
			for _, v := range str(key) {
				if ref, ok := appStreamARN(v); ok {
					out = append(out, ref)
				}
			}
		}
	case ServiceAutoScaling:
		for _, key := range []string{"ResourceId", "ResourceIds"} {
			for _, v := range str(key) {
				out = append(out, parseResource(v))
			}
		}
	case ServiceWorkSpaces:
		add(kindWorkspace, "WorkspaceId", "WorkspaceIds")
		add("", "ResourceId")
		for key, raw := range in {
			if !strings.HasSuffix(key, "WorkspaceRequests") {
				continue
			}
			var items []struct{ WorkspaceId string }
			if json.Unmarshal(raw, &items) != nil {
				continue
			}
			for _, it := range items {
				if it.WorkspaceId != "" {
					out = append(out, resourceRef{kindWorkspace, it.WorkspaceId})
				}
			}
		}
	}
	return out
}

// soleResource is the name of the one resource among named (the same resource listed twice is
// one), or "" when there is none or there are several: the Resource of a logged call.
func soleResource(named []resourceRef) string {
	var one *resourceRef
	for i := range named {
		r := &named[i]
		switch {
		case r.name == "":
			continue
		case one == nil:
			one = r
		case *one != *r:
			return ""
		}
	}
	if one == nil {
		return ""
	}
	return one.name
}

// requestedImage is the image an UpdateFleet request gives the fleet: its ImageName, else the
// name in its ImageArn (arn:aws:appstream:…:image/NAME), else "".
func requestedImage(body []byte) string {
	var in struct{ ImageName, ImageArn *string }
	if json.Unmarshal(body, &in) != nil {
		return ""
	}
	if in.ImageName != nil {
		return *in.ImageName
	}
	if in.ImageArn != nil {
		if ref, ok := appStreamARN(*in.ImageArn); ok && ref.kind == kindImage {
			return ref.name
		}
	}
	return ""
}
