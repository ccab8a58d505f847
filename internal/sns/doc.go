// Package sns receives, verifies and parses the Amazon SNS HTTP(S)
// deliveries by which a CloudWatch alarm (typically on a WorkSpace's
// SessionDisconnect metric) tells deskpilot that a WorkSpace may be ready for
// reset.
//
// The pieces, in the order a delivery meets them:
//
//   - ParseMessage decodes the JSON envelope strictly (AWS's spellings, the
//     fields each Type requires, no duplicate keys, bounded size).
//   - Verifier.Verify checks the envelope is authentic and fresh: a known
//     SignatureVersion, a certificate URL on an AWS SNS host (or one the
//     configuration names explicitly, for the emulator), a currently valid
//     RSA certificate, an RSA PKCS #1 v1.5 signature over StringToSign, and a
//     Timestamp no older than MaxAge. There is no switch that turns
//     verification off.
//   - ParseAlarm reads the CloudWatch alarm document carried in a
//     Notification's Message, including metric-math alarms.
//   - Handler is the HTTP endpoint that puts them together, confirms
//     subscriptions to the configured topics only, and hands each new,
//     authentic ALARM notification to OnAlarm exactly once (see Handler for
//     the replay and failure rules).
//
// The package knows nothing of WorkSpaces beyond the WorkspaceId dimension;
// what to do with an alarm is the caller's business.
package sns
