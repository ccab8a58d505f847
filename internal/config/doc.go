// Package config reads deskpilot's configuration file.
//
// The file is YAML; docs/configuration.md describes every key, and the doc
// comments on the types here are the source of that page. [Parse] starts
// from [Default], lays the file over it, applies the environment (only
// AWS_REGION, when the file names no region, and DESKPILOT_TOKEN) and then
// [Config.Validate]s the result. Every mistake is reported at once, each naming the key it is
// about, such as
//
//	rollouts.scan_intervall: unknown key
//	rollouts.fleet_windows.fleet-a: window "sat:22:00": ...
//	notify.email.to[1]: "admins" is not an email address
//
// Misspelt keys are errors rather than silently ignored, because a
// misspelt maintenance window would otherwise fall back to the default one.
//
// Secrets need not appear in the file: it names environment variables that
// hold them (password_env, webhook_secret_env), and the API token may come
// from DESKPILOT_TOKEN instead of server.token. [Config.YAML] prints the
// effective configuration with server.token left empty.
//
// The package is pure apart from [Load] reading the file and [Parse] and
// [Notify.SMTPPassword] reading the environment; it never reads the clock.
package config
