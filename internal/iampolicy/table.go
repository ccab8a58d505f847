package iampolicy

// The table: every AWS operation deskpilot calls, by feature, in the IAM statement that allows
// it. Service and operation names are those of the emulator's call log (sim.Call), which are
// the services' SigV4 signing names except sesv2 for SES API v2. The IAM action is the
// operation's name behind the service's IAM prefix (appstream:, application-autoscaling:,
// workspaces:, ses:, sts:), as the Service Authorization Reference lists them; SES API v2's
// SendEmail is ses:SendEmail, like v1's.
//
// Resources follow the Service Authorization Reference ("Actions, resources, and condition
// keys for …"): "*" where an action has no resource type, so that AWS accepts nothing
// narrower, and ARN patterns where it has one. The ARNs use the aws partition; in GovCloud or
// China, replace arn:aws: with arn:aws-us-gov: or arn:aws-cn:.

// anyResource is the Resource of actions that support no resource-level permissions.
var anyResource = []string{"*"}

// ARN patterns of the resources deskpilot acts on.
const (
	fleetARN = "arn:aws:appstream:*:*:fleet/*"
	// imageARN has a wildcard account because deskpilot rolls out images shared from other
	// accounts too; AWS's public images have an empty account field, which * also matches.
	imageARN          = "arn:aws:appstream:*:*:image/*"
	scalableTargetARN = "arn:aws:application-autoscaling:*:*:scalable-target/*"
	workspaceARN      = "arn:aws:workspaces:*:*:workspace/*"
	sesIdentityARN    = "arn:aws:ses:*:*:identity/*"
	sesConfigSetARN   = "arn:aws:ses:*:*:configuration-set/*"
	// queueARN is any queue: its name is the operator's choice (rollouts.events.queue), and
	// `deskpilot bootstrap` holds its role to the one queue it creates.
	queueARN = "arn:aws:sqs:*:*:*"
)

// always is what every deskpilot needs whatever the features.
var always = feature{
	name: "identity",
	statements: []statement{{
		// Open asks STS whose credentials it has (the account keys the store's rows, and a
		// failure stops startup). AWS answers GetCallerIdentity whatever the policies say; it is
		// listed so that the policy names every call deskpilot makes.
		sid:       "Identity",
		resources: anyResource,
		ops:       []op{{"sts", "GetCallerIdentity", "sts:GetCallerIdentity"}},
	}},
}

// features are the optional parts of deskpilot, in the order Features lists them.
var features = []feature{
	{
		name: "rollouts",
		doc:  "image rollouts to AppStream 2.0 fleets (rollouts.enabled, the default)",
		statements: []statement{
			{
				// The scan lists private and shared images and reads their tags; the steps read
				// fleets (by name, and all of them for the API's fleet list). None of these
				// actions has a resource type: they need "*".
				sid:       "RolloutsReadAppStream",
				resources: anyResource,
				ops: []op{
					{"appstream", "DescribeImages", "appstream:DescribeImages"},
					{"appstream", "DescribeFleets", "appstream:DescribeFleets"},
					{"appstream", "ListTagsForResource", "appstream:ListTagsForResource"},
				},
			},
			{
				// UpdateFleet gives a fleet its new image (by ARN); its resource types are the
				// fleet (required) and the image. TagResource and UntagResource write the
				// Status tag on images and the saved Min/Max tags on fleets.
				sid:       "RolloutsUpdateFleetsAndTag",
				resources: []string{fleetARN, imageARN},
				ops: []op{
					{"appstream", "UpdateFleet", "appstream:UpdateFleet"},
					{"appstream", "TagResource", "appstream:TagResource"},
					{"appstream", "UntagResource", "appstream:UntagResource"},
				},
			},
			{
				// Reads the fleets' Min/Max and SuspendedState, and the scheduled actions a
				// restore applies when one fell inside the drain. No resource type: "*".
				sid:       "RolloutsReadScalableTargets",
				resources: anyResource,
				ops: []op{
					{"application-autoscaling", "DescribeScalableTargets", "application-autoscaling:DescribeScalableTargets"},
					{"application-autoscaling", "DescribeScheduledActions", "application-autoscaling:DescribeScheduledActions"},
				},
			},
			{
				// The sessions and deadline drain modes: a fleet's stacks and sessions, the
				// instances put in drain mode, the sessions ended at the deadline. The service
				// authorization reference lists no resource type for these session actions, so
				// they need "*".
				sid:       "RolloutsFollowSessions",
				resources: anyResource,
				ops: []op{
					{"appstream", "ListAssociatedStacks", "appstream:ListAssociatedStacks"},
					{"appstream", "DescribeSessions", "appstream:DescribeSessions"},
					{"appstream", "DrainSessionInstance", "appstream:DrainSessionInstance"},
					{"appstream", "ExpireSession", "appstream:ExpireSession"},
				},
			},
			{
				// Drains a fleet (Min/Max 0/0) and restores its saved Min/Max by registering its
				// existing scalable target again. Scalable-target ARNs carry an opaque id, so the
				// statement is held to AppStream fleet capacity by condition keys instead.
				// Application Auto Scaling also wants the caller to have appstream:DescribeFleets
				// and appstream:UpdateFleet on the fleet (granted above). deskpilot registers
				// only targets that exist, whose service-linked role exists too, so it needs no
				// iam:CreateServiceLinkedRole; nor application-autoscaling:TagResource, since it
				// passes no tags.
				sid:       "RolloutsSetFleetCapacity",
				resources: []string{scalableTargetARN},
				condition: map[string]map[string]string{"StringEquals": {
					"application-autoscaling:service-namespace":  "appstream",
					"application-autoscaling:scalable-dimension": "appstream:fleet:DesiredCapacity",
				}},
				ops: []op{{"application-autoscaling", "RegisterScalableTarget", "application-autoscaling:RegisterScalableTarget"}},
			},
		},
	},
	{
		name:     "events",
		doc:      "tag events from an EventBridge rule through an SQS queue (rollouts.events.queue); works with rollouts only",
		requires: []string{"rollouts"},
		statements: []statement{{
			// GetQueueUrl resolves a queue given by name, GetQueueAttributes checks at startup
			// that the queue exists and is readable, ReceiveMessage long-polls it and
			// DeleteMessage removes each event handled. The queue is the resource of all four.
			sid:       "EventsReadQueue",
			resources: []string{queueARN},
			ops: []op{
				{"sqs", "GetQueueUrl", "sqs:GetQueueUrl"},
				{"sqs", "GetQueueAttributes", "sqs:GetQueueAttributes"},
				{"sqs", "ReceiveMessage", "sqs:ReceiveMessage"},
				{"sqs", "DeleteMessage", "sqs:DeleteMessage"},
			},
		}},
	},
	{
		name: "resets",
		doc:  "rebuilding or restoring non-persistent WorkSpaces after logoff (workspaces.reset.enabled)",
		statements: []statement{
			{
				// The inventory, the connection poll and the tags that opt WorkSpaces in or out.
				// None of these actions has a resource type: "*".
				sid:       "ResetsReadWorkSpaces",
				resources: anyResource,
				ops: []op{
					{"workspaces", "DescribeWorkspaces", "workspaces:DescribeWorkspaces"},
					{"workspaces", "DescribeWorkspacesConnectionStatus", "workspaces:DescribeWorkspacesConnectionStatus"},
					{"workspaces", "DescribeTags", "workspaces:DescribeTags"},
				},
			},
			{
				// The resets themselves, on WorkSpace ARNs: the snapshot a reset waits for, the
				// ADMIN_MAINTENANCE state held during the last check, and the reset.
				sid:       "ResetsRebuildOrRestore",
				resources: []string{workspaceARN},
				ops: []op{
					{"workspaces", "DescribeWorkspaceSnapshots", "workspaces:DescribeWorkspaceSnapshots"},
					{"workspaces", "ModifyWorkspaceState", "workspaces:ModifyWorkspaceState"},
					{"workspaces", "RebuildWorkspaces", "workspaces:RebuildWorkspaces"},
					{"workspaces", "RestoreWorkspace", "workspaces:RestoreWorkspace"},
				},
			},
		},
	},
	{
		name:     "sns",
		doc:      "the SNS endpoint for SessionDisconnect alarms (workspaces.sns.topics); works with resets only",
		requires: []string{"resets"},
		// deskpilot makes no signed SNS call: it confirms a subscription by a GET of the
		// SubscribeURL, which the token in the URL authorizes, and fetches the signing
		// certificate over plain HTTPS. Subscribing the endpoint to the topic is the
		// operator's job (sns:Subscribe is theirs, not deskpilot's). The alarm only prompts a
		// check of the WorkSpace, with the resets feature's calls, which sns brings in.
		unsigned: []op{{"sns", "ConfirmSubscription", ""}},
	},
	{
		name: "ses",
		doc:  "notice mail through Amazon SES API v2 (notify.email.via: ses with notify.email.to set)",
		statements: []statement{{
			// SendEmail's resources are the sending identity (notify.email.from) and, when that
			// identity has a default configuration set, the set: deskpilot names none itself.
			sid:       "SendNoticeMail",
			resources: []string{sesIdentityARN, sesConfigSetARN},
			ops:       []op{{"sesv2", "SendEmail", "ses:SendEmail"}},
		}},
	},
}

// defaults are the features Policy uses when given none: what a deployment that both rolls
// out images and resets WorkSpaces needs, with its notices sent through SES (notify.email.via
// ses, the default once notify.email.to is set; leave ses out for SMTP or webhooks only).
var defaults = []string{"rollouts", "resets", "ses"}
