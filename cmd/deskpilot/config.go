package main

import (
	"bytes"
	"fmt"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/deskpilot/deskpilot/internal/config"
)

func (c *cli) configCommand() *cobra.Command {
	var path string
	cmd := group(&cobra.Command{
		Use:   "config",
		Short: "Check the configuration file, or print it with every default filled in",
	})
	cmd.PersistentFlags().StringVar(&path, "config", "deskpilot.yaml", "configuration file")
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration file as serve would (the environment included); every problem at once",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			if cfg.AWS.Region == "" {
				// serve would take the region from the SDK's chain (the profile): so does this.
				awsCfg, err := awsconfig.LoadDefaultConfig(cmd.Context())
				if err != nil || awsCfg.Region == "" {
					return fmt.Errorf("%s: no AWS region: set aws.region in the config, AWS_REGION, or a region in the AWS profile (AWS_PROFILE, ~/.aws/config); serve would not start", path)
				}
				fmt.Fprintf(c.stdout, "%s is valid (region %s from the AWS profile or environment)\n", path, awsCfg.Region)
				return nil
			}
			fmt.Fprintf(c.stdout, "%s is valid\n", path)
			return nil
		},
	}
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration, defaults and environment included, as YAML",
		Long: `Print the effective configuration as serve would run with it: every key, defaults and the
environment (AWS_REGION, ` + TokenEnv + `) included, as YAML. Secrets are never printed: server.token
is empty, passwords and the webhook secret are only named by their environment variables, and
webhook and check URLs are shown up to their host, since their paths often hold tokens.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.output == outJSON {
				return usageErrorf(cmd, "config print writes YAML only")
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			out, err := cfg.YAML()
			if err != nil {
				return err
			}
			if out, err = redactURLs(out); err != nil {
				return err
			}
			_, err = c.stdout.Write(out)
			return err
		},
	}
	cmd.AddCommand(validate, print)
	return cmd
}

// redactURLs replaces, in a configuration file, the URLs that may hold a token (each webhook
// under notify.webhooks, as a string or its url key, and rollouts.health.check_url) with their
// scheme and host.
func redactURLs(file []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(file, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return file, nil
	}
	top := doc.Content[0]
	if hooks := lookup(lookup(top, "notify"), "webhooks"); hooks != nil {
		for _, h := range hooks.Content {
			if h.Kind == yaml.ScalarNode {
				h.Value = redactURL(h.Value)
			} else if u := lookup(h, "url"); u != nil {
				u.Value = redactURL(u.Value)
			}
		}
	}
	if u := lookup(lookup(lookup(top, "rollouts"), "health"), "check_url"); u != nil && u.Value != "" {
		u.Value = redactURL(u.Value)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// redactURL keeps a URL's scheme and host; anything after them becomes "/REDACTED".
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "REDACTED"
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		out += "/REDACTED"
	}
	return out
}
