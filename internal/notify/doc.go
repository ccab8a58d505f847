// Package notify tells administrators what deskpilot did: it renders a Notice
// as an email (plain text and HTML) or a webhook payload (deskpilot's JSON, a
// Slack message or a Teams Adaptive Card) and sends it through SES, SMTP or an
// HTTP webhook.
//
// Controllers never send directly. They build a Notice and enqueue one
// Delivery per (notice, sender) in the store, in the same transaction as the
// state change the notice describes. A Dispatcher then drains that outbox:
// it sends every due delivery, marks it sent, or reschedules it on the
// fault.Delivery backoff schedule (30 s doubling to 30 min, four times longer
// when throttled) unless IsPermanent. A send cut short by the Dispatcher's
// caller counts as an attempt and waits its backoff too, since it may have
// been delivered. A notice is therefore never lost to a crash, and a notice
// sent twice (the daemon died between sending and marking, or a send was cut
// short after the receiver took it) carries the same X-Deskpilot-Notice
// header (and, by SMTP, the same Message-ID; by webhook, the same "id"), so
// receivers can drop the duplicate.
//
// The package knows nothing of rollouts or WorkSpaces: a Notice is a subject,
// a summary, a table of fields and an optional list of items.
package notify
