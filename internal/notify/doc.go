// Package notify tells administrators what deskpilot did: it renders a Notice
// as an email (plain text and HTML) or a webhook payload and sends it through
// SES, SMTP or an HTTP webhook.
//
// Controllers never send directly. They build a Notice and enqueue one
// Delivery per (notice, sender) in the store, in the same transaction as the
// state change the notice describes. A Dispatcher then drains that outbox:
// it sends every due delivery, marks it sent, or reschedules it on the
// NextAttempt backoff schedule unless the error is permanent. A notice is
// therefore never lost to a crash, and a notice sent twice (the daemon died
// between sending and marking) carries the same Message-ID and
// X-Deskpilot-Notice header, so receivers can drop the duplicate.
//
// The package knows nothing of rollouts or WorkSpaces: a Notice is a subject,
// a summary, a table of fields and an optional list of items.
package notify
